package archive

// restore rebuilds an environment in a new directory beside the target, from a snapshot and the logs
// after it (object storage) or from a mirror's files and retained logs (a local mirror), runs the
// engine's catastrophic recovery (to a moment, when asked), verifies the databases, and only then
// renames the directory into place.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/meta"
)

// ErrTarget marks a target directory that restore refuses; nothing was written.
var ErrTarget = errors.New("unusable restore target")

// RestoreOptions are a restore's settings; Engine is required.
type RestoreOptions struct {
	// Engine recovers the restored environment: catastrophic recovery over the logs for an engine with
	// a log history (Berkeley DB), a restart of the snapshot's databases for one without (SQLite).
	Engine engine.Core
	// Until is the moment to recover to; zero: the newest state the source holds. Without a log
	// history, the newest snapshot of the archive taken by then.
	Until time.Time
}

// RestoreReport says what a restore did.
type RestoreReport struct {
	From     string     `json:"from"`
	To       string     `json:"to"`
	Until    *time.Time `json:"until,omitempty"`
	Snapshot string     `json:"snapshot,omitempty"` // object storage: the snapshot restored
	// SnapshotOf is, for an engine without a log history, the moment whose state the snapshot holds
	// (the restored environment is the mirror as it was then).
	SnapshotOf *time.Time `json:"snapshot_of,omitempty"`
	Files      int        `json:"files"` // files of the environment but logs
	Logs       int        `json:"logs"`
	Bytes      int64      `json:"bytes"`
	FirstLog   uint32     `json:"first_log"`
	LastLog    uint32     `json:"last_log"`
	// LastCommit is the time of the last commit in the restored environment (nil: none in its log).
	LastCommit *time.Time            `json:"last_commit,omitempty"`
	Recovery   engine.RecoveryReport `json:"recovery"`
	Duration   time.Duration         `json:"duration_ns"`
}

// RestoreFromStore restores the archive at s into target.
func RestoreFromStore(ctx context.Context, s *Store, target string, o RestoreOptions) (RestoreReport, error) {
	return restore(ctx, s.loc.String(), target, o, true, func(ctx context.Context, dir string, r *RestoreReport) error {
		return fetchFromStore(ctx, s, dir, o.Engine, o.Until, r)
	})
}

// RestoreFromMirror restores from a local mirror's files and retained logs into target; the mirror
// is only read.
func RestoreFromMirror(ctx context.Context, mirrorDir, target string, o RestoreOptions) (RestoreReport, error) {
	src, err := filepath.Abs(mirrorDir)
	if err != nil {
		return RestoreReport{}, err
	}
	if fi, err := os.Stat(src); err != nil || !fi.IsDir() {
		return RestoreReport{}, fmt.Errorf("--from %s is neither s3://bucket/prefix nor a directory", mirrorDir)
	}
	if abs, err := filepath.Abs(target); err == nil && (within(abs, src) || within(src, abs)) {
		return RestoreReport{}, fmt.Errorf("%w: %s and the mirror %s overlap: give a directory outside the mirror", ErrTarget, abs, src)
	}
	return restore(ctx, src, target, o, false, func(ctx context.Context, dir string, r *RestoreReport) error {
		if hist, ok := hasLogHistory(o.Engine); ok {
			return copyFromMirror(hist, src, dir, r)
		}
		return quietCopyFromMirror(ctx, o.Engine, src, dir, r)
	})
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

type fetchFunc func(ctx context.Context, dir string, r *RestoreReport) error

func restore(ctx context.Context, from, target string, o RestoreOptions, fromStore bool, fetch fetchFunc) (RestoreReport, error) {
	start := time.Now()
	r := RestoreReport{From: from}
	if !o.Until.IsZero() {
		u := o.Until.UTC()
		r.Until = &u
	}
	if err := o.Engine.Available(); err != nil {
		return r, err
	}
	pit, _ := o.Engine.(engine.PointInTime)
	cat, _ := o.Engine.(engine.Catastrophic)
	if !o.Until.IsZero() && pit == nil && (cat != nil || !fromStore) {
		return r, fmt.Errorf("--time: %s keeps no log history to recover to a moment: restore from the archive, where --time picks the newest snapshot taken by then", o.Engine.Name())
	}
	abs, err := CheckTarget(target)
	if err != nil {
		return r, err
	}
	r.To = abs
	staging, err := os.MkdirTemp(filepath.Dir(abs), "."+filepath.Base(abs)+".restore-")
	if err != nil {
		return r, fmt.Errorf("restore into %s: %w", abs, err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(staging)
		}
	}()
	if err := fetch(ctx, staging, &r); err != nil {
		return r, err
	}
	switch {
	case cat == nil: // no log history: the snapshot's databases, restarted and checked by the engine
		if r.Recovery, err = o.Engine.Restart(ctx, staging); err != nil {
			return r, fmt.Errorf("the restored databases do not open and check with %s: %w", o.Engine.Name(), err)
		}
	case o.Until.IsZero():
		r.Recovery, err = cat.Recover(ctx, staging, true)
	default:
		r.Recovery, err = pit.RecoverUntil(ctx, staging, o.Until)
	}
	if err != nil {
		return r, fmt.Errorf("catastrophic recovery of the restored environment failed: %w", err)
	}
	if err := o.Engine.Verify(ctx, staging); err != nil {
		return r, fmt.Errorf("the restored environment does not verify: %w", err)
	}
	if pit != nil {
		t, ok, err := pit.LastCommit(ctx, staging)
		if err != nil {
			return r, fmt.Errorf("last commit of the restored environment: %w", err)
		}
		if ok {
			r.LastCommit = &t
		}
	}
	// The target was checked empty (or absent): rename replaces an empty directory.
	if err := os.Rename(staging, abs); err != nil {
		return r, fmt.Errorf("restore into %s: %w", abs, err)
	}
	done = true
	if err := meta.SyncDir(filepath.Dir(abs)); err != nil {
		return r, err
	}
	r.Duration = time.Since(start)
	return r, nil
}

// checkTarget returns target absolute; it must be absent (its parent present) or an empty directory.
func CheckTarget(target string) (string, error) {
	abs, err := filepath.Abs(target)
	if err != nil {
		return "", err
	}
	ents, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if fi, perr := os.Stat(filepath.Dir(abs)); perr != nil || !fi.IsDir() {
			return "", fmt.Errorf("%w: the parent of %s does not exist: create it first", ErrTarget, abs)
		}
	case err != nil:
		return "", fmt.Errorf("%w: %s: %v: give a new or empty directory", ErrTarget, abs, err)
	case len(ents) > 0:
		return "", fmt.Errorf("%w: %s is not empty: give a new or empty directory (nothing was changed)", ErrTarget, abs)
	}
	return abs, nil
}

// fetchFromStore downloads the snapshot for until and the logs after it into dir, verifying each.
func fetchFromStore(ctx context.Context, s *Store, dir string, eng engine.Core, until time.Time, r *RestoreReport) error {
	m, ok, err := s.LatestManifest(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w at %s: it holds no manifest; check the location, or run mirrorctl archive push first", ErrNoArchive, s.loc)
	}
	if _, hist := hasLogHistory(eng); hist != (m.engine() == meta.EngineBDB) {
		return fmt.Errorf("%s archives a %s environment, not one of %s", s.loc, m.engine(), eng.Name())
	}
	snap, ok := m.snapshotFor(until)
	if !ok {
		return fmt.Errorf("%w at %s for %s: its oldest snapshot ended at %s; restore to a later moment", ErrNoArchive, s.loc, until.UTC().Format(time.RFC3339), m.Snapshots[0].Done.Format(time.RFC3339))
	}
	r.Snapshot = snap.ID
	if !snap.hasLogs() {
		of := snap.Done
		r.SnapshotOf = &of
		for _, f := range snap.Files {
			if err := fetchObject(ctx, s, dir, f.Rel, f.Object); err != nil {
				return err
			}
			r.Files++
			r.Bytes += f.Size
		}
		return fetchWALs(ctx, s, dir, m, snap.ID, until, r)
	}
	var logs []Log
	for _, l := range m.Logs {
		if l.Number >= snap.FirstLog {
			logs = append(logs, l)
		}
	}
	if err := checkLogRange(s, snap, logs); err != nil {
		return err
	}
	for _, f := range snap.Files {
		if err := fetchObject(ctx, s, dir, f.Rel, f.Object); err != nil {
			return err
		}
		r.Files++
		r.Bytes += f.Size
	}
	for _, l := range logs {
		if err := fetchLog(ctx, s, dir, l); err != nil {
			return err
		}
		r.Logs++
		r.Bytes += l.Size
	}
	r.FirstLog, r.LastLog = logs[0].Number, logs[len(logs)-1].Number
	return nil
}

// checkLogRange checks that logs (sorted) run without a gap from the snapshot's first log past its last.
func checkLogRange(s *Store, snap Snapshot, logs []Log) error {
	if len(logs) == 0 || logs[0].Number != snap.FirstLog {
		return fmt.Errorf("%w: the manifest of %s lacks log %d, the first that snapshot %s needs: the archive is incomplete", ErrMissing, s.loc, snap.FirstLog, snap.ID)
	}
	for i := 1; i < len(logs); i++ {
		if logs[i].Number != logs[i-1].Number+1 {
			return fmt.Errorf("%w: the manifest of %s lacks log %d (it goes from %s to %s): the archive is incomplete", ErrMissing, s.loc, logs[i-1].Number+1, logs[i-1].Rel, logs[i].Rel)
		}
	}
	if last := logs[len(logs)-1].Number; last < snap.LastLog {
		return fmt.Errorf("%w: the manifest of %s ends at log %d, snapshot %s needs up to log %d: the archive is incomplete", ErrMissing, s.loc, last, snap.ID, snap.LastLog)
	}
	return nil
}

func fetchObject(ctx context.Context, s *Store, dir, rel string, obj Object) error {
	path, err := targetPath(dir, rel)
	if err != nil {
		return err
	}
	return s.fetchVerified(ctx, obj, path)
}

// fetchLog downloads a sealed log, or the parts of an open one, and checks the whole.
func fetchLog(ctx context.Context, s *Store, dir string, l Log) error {
	if len(l.Parts) == 0 {
		return fetchObject(ctx, s, dir, l.Rel, l.Object)
	}
	path, err := targetPath(dir, l.Rel)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("restore %s: %w", path, err)
	}
	defer f.Close()
	for _, pt := range l.Parts {
		if err := s.fetchPart(ctx, pt, f); err != nil {
			return err
		}
	}
	if err := f.Truncate(l.Size); err != nil { // the zeros after the last record, as on the mirror
		return fmt.Errorf("restore %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("restore %s: %w", path, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("restore %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != l.SHA256 || n != l.Size {
		return fmt.Errorf("%w: the parts of open log %s in %s make %d bytes with SHA-256 %s, the manifest says %d bytes with %s", ErrCorrupt, l.Rel, s.loc, n, got, l.Size, l.SHA256)
	}
	return nil
}

// targetPath places rel below dir, refusing a name that would lead out of it, and makes its parent.
func targetPath(dir, rel string) (string, error) {
	clean := filepath.Clean(filepath.FromSlash(rel))
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%w: the manifest names %q, a path outside the environment", ErrCorrupt, rel)
	}
	p := filepath.Join(dir, clean)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("restore %s: %w", p, err)
	}
	return p, nil
}

// copyFromMirror copies the mirror's files but its regions and metadata area, the logs last (the
// order that keeps the copy consistent, see doc.go), checking sealed logs against the mirror's record.
func copyFromMirror(eng engine.Engine, src, dir string, r *RestoreReport) error {
	rec, _, err := meta.ReadRecord(src)
	if err != nil {
		return fmt.Errorf("mirror %s: %w", src, err)
	}
	files, err := databaseFiles(eng, src)
	if err != nil {
		return fmt.Errorf("read mirror %s: %w", src, err)
	}
	for _, rel := range files {
		if _, _, err := copyFile(src, dir, rel); err != nil {
			return err
		}
		r.Files++
	}
	logs, err := eng.Logs(src)
	if err != nil {
		return fmt.Errorf("logs of mirror %s: %w", src, err)
	}
	if len(logs) == 0 {
		return fmt.Errorf("mirror %s has no log files: nothing to recover", src)
	}
	if err := engine.CheckLogSequence(logs); err != nil {
		return fmt.Errorf("mirror %s: %w", src, err)
	}
	for _, l := range logs {
		sum, n, err := copyFile(src, dir, l.Rel)
		if err != nil {
			return err
		}
		if want, ok := rec.Sealed[l.Rel]; ok && want != sum {
			return fmt.Errorf("%w: log %s on mirror %s has SHA-256 %s, sealed as %s: the mirror's copy is damaged", ErrCorrupt, l.Rel, src, sum, want)
		}
		r.Logs++
		r.Bytes += n
	}
	r.FirstLog, r.LastLog = logs[0].Number, logs[len(logs)-1].Number
	return nil
}

// quietCopyFromMirror copies a mirror without a log history (its databases and their journals) at an
// instant when none of its files changed (quiet.go): the restart that follows recovers it.
func quietCopyFromMirror(ctx context.Context, eng engine.Core, src, dir string, r *RestoreReport) error {
	stamps, _, to, err := quietCopy(ctx, eng, src, dir, quietPatience)
	if err != nil {
		return err
	}
	for _, s := range stamps {
		r.Files++
		r.Bytes += s.Size
	}
	r.SnapshotOf = &to
	return nil
}

// copyFile copies src/rel to dir/rel durably and returns its SHA-256.
func copyFile(src, dir, rel string) (string, int64, error) {
	in, err := os.Open(filepath.Join(src, filepath.FromSlash(rel)))
	if err != nil {
		return "", 0, fmt.Errorf("read mirror %s: %w", rel, err)
	}
	defer in.Close()
	p, err := targetPath(dir, rel)
	if err != nil {
		return "", 0, err
	}
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", 0, fmt.Errorf("restore %s: %w", p, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", n, fmt.Errorf("restore %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
