package bdb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mirrorctl/mirrorctl/engine"
	"golang.org/x/sync/errgroup"
)

// BDB is the Berkeley DB engine.
type BDB struct {
	hint     string
	tools    Tools
	toolsErr error
}

var (
	_ engine.Engine   = (*BDB)(nil)
	_ engine.Archiver = (*BDB)(nil)
)

// New returns the engine. The utilities are looked up now (under hint, a directory or a name prefix,
// when given; else $MIRRORCTL_BDB_UTILS; else $PATH), but their absence is reported only by Available
// and by the calls that need them: a mount needs none.
func New(hint string) (*BDB, error) {
	if hint == "" {
		hint = os.Getenv(EnvUtils)
	}
	b := &BDB{hint: hint}
	b.tools, b.toolsErr = FindTools(hint)
	return b, nil
}

// Name implements engine.Engine.
func (b *BDB) Name() string { return "Berkeley DB" }

// Available implements engine.Engine.
func (b *BDB) Available() error { return b.toolsErr }

// IsStaged implements engine.Staged: a database being created under a temporary name.
func (b *BDB) IsStaged(base string) bool { return IsStagedName(base) }

// Classify implements engine.Engine.
func (b *BDB) Classify(rel string) engine.Class {
	base := path.Base(rel)
	switch {
	case IsRegionName(base):
		return engine.ClassRegion
	case rel == "DB_CONFIG":
		return engine.ClassConfig
	}
	if _, ok := ParseLogName(base); ok {
		return engine.ClassLog
	}
	if strings.HasSuffix(base, ".db") {
		return engine.ClassDatabase
	}
	return engine.ClassOther
}

// LogNumber implements engine.Engine.
func (b *BDB) LogNumber(rel string) (uint32, bool) { return logNumber(rel) }

// logDir is the directory of envDir's log files, from DB_CONFIG.
func logDir(envDir string) (string, error) {
	c, err := ReadConfig(envDir)
	if err != nil {
		return "", err
	}
	if c.LogDir == "" {
		return envDir, nil
	}
	if filepath.IsAbs(c.LogDir) {
		return c.LogDir, nil
	}
	return filepath.Join(envDir, c.LogDir), nil
}

// Logs implements engine.Engine: the log files in the log directory that DB_CONFIG names.
func (b *BDB) Logs(envDir string) ([]engine.LogFile, error) {
	dir, err := logDir(envDir)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) && dir != envDir {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []engine.LogFile
	for _, e := range ents {
		n, ok := ParseLogName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		rel, err := filepath.Rel(envDir, filepath.Join(dir, e.Name()))
		if err != nil {
			rel = filepath.Join(dir, e.Name())
		}
		out = append(out, engine.LogFile{Rel: filepath.ToSlash(rel), Number: n, Size: info.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// RemoveRegions implements engine.Engine.
func (b *BDB) RemoveRegions(envDir string) ([]string, error) {
	ents, err := os.ReadDir(envDir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		if !IsRegionName(e.Name()) || e.IsDir() {
			continue
		}
		if err := os.Remove(filepath.Join(envDir, e.Name())); err != nil {
			return removed, err
		}
		removed = append(removed, e.Name())
	}
	return removed, nil
}

// run runs a utility with a home directory and returns its combined output.
func (b *BDB) run(ctx context.Context, tool string, args ...string) (string, error) {
	if b.toolsErr != nil {
		return "", b.toolsErr
	}
	cmd := exec.CommandContext(ctx, tool, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", filepath.Base(tool), strings.Join(args, " "), err, lastLines(out.String(), 3))
	}
	return out.String(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

// Berkeley DB has every capability: numbered rotating logs, catastrophic recovery, the replay a
// restart would do, and the hot-backup routine.
var (
	_ engine.Engine   = (*BDB)(nil)
	_ engine.Archiver = (*BDB)(nil)
)

// Restart is normal recovery: from the last checkpoint.
func (b *BDB) Restart(ctx context.Context, envDir string) (engine.RecoveryReport, error) {
	return b.Recover(ctx, envDir, false)
}

// Recover implements engine.Engine with db_recover -v (and -c when catastrophic).
func (b *BDB) Recover(ctx context.Context, envDir string, catastrophic bool) (engine.RecoveryReport, error) {
	args := []string{"-h", envDir, "-v"}
	if catastrophic {
		args = append(args, "-c")
	}
	start := time.Now()
	out, err := b.run(ctx, b.tools.Recover, args...)
	r := ParseRecoverOutput(out)
	r.Catastrophic = catastrophic
	r.Duration = time.Since(start)
	r.Output = out
	return r, err
}

var (
	reStart = regexp.MustCompile(`Recovery starting from \[(\d+)\]\[(\d+)\]`)
	reLast  = regexp.MustCompile(`Finding last valid log LSN: file: (\d+) offset (\d+)`)
)

// ParseRecoverOutput reads what db_recover -v says: the log file recovery started from and the last
// valid LSN. When the environment needed no replay, FirstLog is the last log.
func ParseRecoverOutput(out string) engine.RecoveryReport {
	var r engine.RecoveryReport
	if m := reLast.FindStringSubmatch(out); m != nil {
		f, _ := strconv.ParseUint(m[1], 10, 32)
		r.LastLog = uint32(f)
		r.LastLSN = m[1] + "/" + m[2]
	}
	if m := reStart.FindStringSubmatch(out); m != nil {
		f, _ := strconv.ParseUint(m[1], 10, 32)
		r.FirstLog = uint32(f)
	} else {
		r.FirstLog = r.LastLog
	}
	return r
}

// Verify implements engine.Engine: db_verify on every database file of the environment and its data
// directories. Database files are recognised by the magic number in their first page, not with
// db_archive -s, which reads the whole log history to name them and so grows with it. The files
// are verified in parallel, one db_verify per CPU, since failover waits for them; the first failure
// in file order is reported.
func (b *BDB) Verify(ctx context.Context, envDir string) error {
	files, err := DatabaseFilesByMagic(envDir)
	if err != nil {
		return err
	}
	// Every file is verified, whatever the others give (no group context cancels them), so that the
	// failure reported is the first in file order, not the first to finish.
	errs := make([]error, len(files))
	var g errgroup.Group
	g.SetLimit(max(1, runtime.NumCPU()))
	for i, f := range files {
		g.Go(func() error {
			if _, err := b.run(ctx, b.tools.Verify, "-h", envDir, "-q", f); err != nil {
				errs[i] = fmt.Errorf("database %s does not verify: %w", f, err)
			}
			return nil
		})
	}
	g.Wait() // the errors are in errs
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// magics are the metadata-page magic numbers of Berkeley DB's access methods (btree, hash, queue,
// heap), found at byte 12 of a database file in either byte order.
var magics = []uint32{0x053162, 0x061561, 0x042253, 0x074582}

// isDatabaseFile reports whether the file at p starts with a Berkeley DB metadata page.
func isDatabaseFile(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var hdr [16]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return false
	}
	le := binary.LittleEndian.Uint32(hdr[12:])
	be := binary.BigEndian.Uint32(hdr[12:])
	for _, m := range magics {
		if le == m || be == m {
			return true
		}
	}
	return false
}

// DatabaseFilesByMagic lists the database files of the environment directory and the data
// directories DB_CONFIG names, relative to envDir.
func DatabaseFilesByMagic(envDir string) ([]string, error) {
	dirs := []string{"."}
	c, err := ReadConfig(envDir)
	if err != nil {
		return nil, err
	}
	dirs = append(dirs, c.DataDirs...)
	seen := map[string]bool{}
	var files []string
	for _, d := range dirs {
		ents, err := os.ReadDir(filepath.Join(envDir, d))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.Type().IsRegular() || IsRegionName(e.Name()) {
				continue
			}
			if _, isLog := ParseLogName(e.Name()); isLog {
				continue
			}
			rel := filepath.ToSlash(filepath.Join(d, e.Name()))
			if !seen[rel] && isDatabaseFile(filepath.Join(envDir, rel)) {
				seen[rel] = true
				files = append(files, rel)
			}
		}
	}
	return files, nil
}

// DatabaseFiles lists the active database files (db_archive -s), relative to envDir.
func (b *BDB) DatabaseFiles(ctx context.Context, envDir string) ([]string, error) {
	return b.archive(ctx, envDir, "-s")
}

// InactiveLogs lists the log files no longer needed for normal recovery (db_archive), relative to envDir.
func (b *BDB) InactiveLogs(ctx context.Context, envDir string) ([]string, error) {
	return b.archive(ctx, envDir)
}

// ActiveLogs lists every log file (db_archive -l), relative to envDir.
func (b *BDB) ActiveLogs(ctx context.Context, envDir string) ([]string, error) {
	return b.archive(ctx, envDir, "-l")
}

// archive runs db_archive with absolute names (-a), so that names in a log or data directory come out
// right, and returns them relative to envDir.
func (b *BDB) archive(ctx context.Context, envDir string, flags ...string) ([]string, error) {
	abs, err := filepath.Abs(envDir)
	if err != nil {
		return nil, err
	}
	out, err := b.run(ctx, b.tools.Archive, append([]string{"-a", "-h", abs}, flags...)...)
	if err != nil {
		return nil, err
	}
	return ParseArchiveOutput(out, abs)
}

// ParseArchiveOutput turns db_archive -a output (one absolute path a line) into paths relative to
// envDir; a path outside envDir is an error, since mirrorctl copies only what lies inside it.
func ParseArchiveOutput(out, envDir string) ([]string, error) {
	var files []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !filepath.IsAbs(line) {
			line = filepath.Join(envDir, line)
		}
		rel, err := filepath.Rel(envDir, line)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return nil, fmt.Errorf("db_archive names %s, outside the environment %s: mirrorctl mirrors only what lies inside it", line, envDir)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	return files, nil
}

// Checkpoint forces a checkpoint (db_checkpoint -1).
func (b *BDB) Checkpoint(ctx context.Context, envDir string) error {
	_, err := b.run(ctx, b.tools.Checkpoint, "-1", "-h", envDir)
	return err
}
