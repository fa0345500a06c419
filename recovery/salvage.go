package recovery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/meta"
)

// Salvaged is log data taken from the old primary.
type Salvaged struct {
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
	Whole bool   `json:"whole"` // the file was missing on the mirror; else its tail was appended
}

// salvage copies from primary the log data that mirrorDir lacks: a longer last log and newer log
// files, only while they continue the mirror's log without a gap and agree with what the mirror has.
// It returns what it took and, when it stopped early, why.
//
// Normal recovery starts at the last checkpoint and trusts that the database files hold every change
// before it. A checkpoint inside the salvaged tail would be a promise the mirror's database files
// cannot keep, so such a tail is only taken for a catastrophic recovery, which replays every log.
func salvage(ctx context.Context, eng engine.RotatingLogs, primary, mirrorDir string, catastrophic bool) ([]Salvaged, string, error) {
	plogs, err := eng.Logs(primary)
	if err != nil {
		return nil, fmt.Sprintf("primary unreadable (%v): nothing salvaged", err), nil
	}
	mlogs, err := eng.Logs(mirrorDir)
	if err != nil {
		return nil, "", fmt.Errorf("list the mirror's log files: %w", err)
	}
	if len(mlogs) == 0 || len(plogs) == 0 {
		return nil, "no log files to compare: nothing salvaged", nil
	}
	last := mlogs[len(mlogs)-1]
	if !catastrophic {
		tail, err := eng.Tail(ctx, primary)
		if err != nil {
			return nil, fmt.Sprintf("cannot read the primary's last checkpoint (%v): nothing salvaged", err), nil
		}
		end, err := dataEnd(filepath.Join(mirrorDir, last.Rel))
		if err != nil {
			return nil, "", fmt.Errorf("read the mirror's last log: %w", err)
		}
		if (engine.LSN{File: last.Number, Offset: end}).Less(tail.Checkpoint) || tail.Checkpoint == (engine.LSN{File: last.Number, Offset: end}) {
			return nil, "the old primary's log tail holds a checkpoint that the mirror's database files never saw: nothing salvaged; promote --catastrophic --primary would take it and replay every log", nil
		}
	}
	var taken []Salvaged
	next := last.Number
	for _, pl := range plogs {
		switch {
		case pl.Number < last.Number:
			continue
		case pl.Number == last.Number:
			if pl.Rel != last.Rel {
				return taken, fmt.Sprintf("%s and %s have the same number but different places: stopped", pl.Rel, last.Rel), nil
			}
			n, err := appendTail(filepath.Join(primary, pl.Rel), filepath.Join(mirrorDir, last.Rel))
			if err != nil {
				return taken, fmt.Sprintf("%s: %v: stopped", pl.Rel, err), nil
			}
			if n > 0 {
				taken = append(taken, Salvaged{File: pl.Rel, Bytes: n})
			}
		case pl.Number == next+1:
			n, err := copyWhole(filepath.Join(primary, pl.Rel), filepath.Join(mirrorDir, pl.Rel))
			if err != nil {
				return taken, fmt.Sprintf("%s: %v: stopped", pl.Rel, err), nil
			}
			taken = append(taken, Salvaged{File: pl.Rel, Bytes: n, Whole: true})
			next = pl.Number
			continue
		default:
			return taken, fmt.Sprintf("the primary's %s does not follow the mirror's log without a gap: not taken", pl.Rel), nil
		}
	}
	return taken, "", nil
}

var errDiverged = errors.New("the primary's copy does not start with the mirror's bytes (different history)")

// appendTail gives dst the bytes that src has beyond what dst holds. A log file may be preallocated
// (zero-filled ahead of the data), so "what dst holds" is everything up to its last non-zero byte:
// src must agree with it there, and then src's bytes from that point on are written into dst.
func appendTail(src, dst string) (int64, error) {
	sb, err := os.ReadFile(src)
	if err != nil {
		return 0, err
	}
	db, err := os.ReadFile(dst)
	if err != nil {
		return 0, err
	}
	end := len(db)
	for end > 0 && db[end-1] == 0 {
		end--
	}
	if len(sb) < end || !bytes.Equal(sb[:end], db[:end]) {
		return 0, errDiverged
	}
	if bytes.Equal(sb, db) || len(sb) <= len(db) && allZero(sb[end:]) {
		return 0, nil
	}
	d, err := os.OpenFile(dst, os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	if _, err := d.WriteAt(sb[end:], int64(end)); err != nil {
		return 0, err
	}
	return int64(len(sb) - end), d.Sync()
}

// dataEnd is the offset just past the last non-zero byte of a file: where a preallocated log's data ends.
func dataEnd(p string) (int64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	end := len(b)
	for end > 0 && b[end-1] == 0 {
		end--
	}
	return int64(end), nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func copyWhole(src, dst string) (int64, error) {
	s, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, err
	}
	d, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(d, s)
	if err == nil {
		err = d.Sync()
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return 0, err
	}
	if st, err := s.Stat(); err == nil {
		_ = os.Chmod(dst, st.Mode().Perm())
	}
	return n, meta.SyncDir(filepath.Dir(dst))
}
