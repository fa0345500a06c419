package archive

// A consistent copy of a mirror without a log history (SQLite): the mirror's files are copied while
// none of them changes, then the engine restarts the copy (SQLite: the library rolls a hot journal
// back, replays the WAL into the database, checks it with PRAGMA integrity_check and checkpoints),
// so that the snapshot is one database file per database, checked by the library before it goes up.
//
// Why the copy is consistent. mirrorctl applies the primary's writes to the mirror in the order the
// primary applied them, so the mirror at any instant holds what the primary held at an earlier
// instant: what a crash of the primary at that instant would have left, which the engine's restart
// recovers (that is what a WAL or a rollback journal is for). The copy is of one instant when no
// file of the mirror changed between the stat before it and the stat after it: every write changes
// a file's ctime, a create or a removal changes the list of files. The file system keeps ctime from
// a coarse clock (a tick of at most 10 ms), so a write just after the first stat could leave the
// ctime it saw; the copy therefore starts only when every ctime is older than quietMargin before
// the first stat began: a later write then gets a later ctime. A write is one pwrite of a few pages
// by mirrorctl, microseconds long; quietMargin covers one that began before the stat by orders of
// magnitude.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/mirrorctl/mirrorctl/engine"
)

const (
	// quietMargin is how long before the first stat every file must have last changed.
	quietMargin = 20 * time.Millisecond
	// quietPatience is how long a copy is tried again before the push gives up and says the mirror
	// never kept still long enough.
	quietPatience = 30 * time.Second
)

// ErrBusy marks a mirror that changed during every copy a push tried.
var ErrBusy = errors.New("the mirror never kept still for a consistent copy")

// FileStamp is what a file of the mirror looked like when a snapshot copied it: a later push takes a
// new snapshot when the mirror's stamps differ, and status counts the bytes of the files that do.
type FileStamp struct {
	Rel   string `json:"rel"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime_ns"`
	Ctime int64  `json:"ctime_ns"`
	Ino   uint64 `json:"ino"`
}

// stampFiles stamps the regular files of dir but the regions and the metadata area, sorted.
func stampFiles(eng engine.Core, dir string) ([]FileStamp, error) {
	var out []FileStamp
	err := walkEnvFiles(dir, func(path, rel string) error {
		if eng.Classify(rel) == engine.ClassRegion {
			return nil
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no stat", path)
		}
		out = append(out, FileStamp{Rel: rel, Size: fi.Size(), Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), Ino: st.Ino})
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Rel < out[j].Rel })
	return out, err
}

func sameStamps(a, b []FileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// changedBytes is the size of the files of now that differ from, or are absent in, then.
func changedBytes(then, now []FileStamp) int64 {
	old := map[string]FileStamp{}
	for _, s := range then {
		old[s.Rel] = s
	}
	var n int64
	for _, s := range now {
		if old[s.Rel] != s {
			n += s.Size
		}
	}
	return n
}

// quietCopy copies the files of src (but regions and the metadata area) into dst, a new directory,
// at an instant when none of them changed (see the top of the file), trying again until patience
// runs out. It returns the stamps of the files copied and the instants the copy is of: the mirror
// held those bytes from "from" to "to".
func quietCopy(ctx context.Context, eng engine.Core, src, dst string, patience time.Duration) ([]FileStamp, time.Time, time.Time, error) {
	deadline := time.Now().Add(patience)
	wait := 10 * time.Millisecond
	var why string
	for {
		if err := ctx.Err(); err != nil {
			return nil, time.Time{}, time.Time{}, err
		}
		from := time.Now()
		before, err := stampFiles(eng, src)
		if err != nil {
			return nil, from, from, fmt.Errorf("copy of mirror %s: %w", src, err)
		}
		if rel, ok := recentChange(before, from.Add(-quietMargin)); ok {
			why = rel + " changed " + from.Sub(time.Unix(0, stampOf(before, rel).Ctime)).Round(time.Millisecond).String() + " before the copy"
		} else {
			if err := copyStamped(src, dst, before); err != nil {
				return nil, from, from, err
			}
			to := time.Now()
			after, err := stampFiles(eng, src)
			if err != nil {
				return nil, from, to, fmt.Errorf("copy of mirror %s: %w", src, err)
			}
			if sameStamps(before, after) {
				return before, from, to, nil
			}
			why = "a file changed during the copy"
		}
		if time.Now().Add(wait).After(deadline) {
			return nil, from, from, fmt.Errorf("%w: mirror %s: for %s %s: the archive falls behind until its databases pause for a moment; see mirrorctl archive push", ErrBusy, src, patience, why)
		}
		select {
		case <-ctx.Done():
			return nil, from, from, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// recentChange names a file whose ctime is not before cutoff.
func recentChange(stamps []FileStamp, cutoff time.Time) (string, bool) {
	for _, s := range stamps {
		if s.Ctime >= cutoff.UnixNano() {
			return s.Rel, true
		}
	}
	return "", false
}

func stampOf(stamps []FileStamp, rel string) FileStamp {
	for _, s := range stamps {
		if s.Rel == rel {
			return s
		}
	}
	return FileStamp{}
}

// copyStamped empties dst and copies the files of stamps from src into it (not synced: dst is a
// scratch copy, restarted and checked before anything goes up).
func copyStamped(src, dst string, stamps []FileStamp) error {
	if err := os.RemoveAll(dst); err != nil {
		return fmt.Errorf("scratch copy %s: %w", dst, err)
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return fmt.Errorf("scratch copy %s: %w", dst, err)
	}
	for _, s := range stamps {
		if err := copyPlain(filepath.Join(src, filepath.FromSlash(s.Rel)), dst, s.Rel); err != nil {
			return err
		}
	}
	return nil
}

func copyPlain(from, dir, rel string) error {
	in, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("copy %s: %w", from, err)
	}
	defer in.Close()
	p, err := targetPath(dir, rel)
	if err != nil {
		return err
	}
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("copy %s: %w", p, err)
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", from, p, err)
	}
	return nil
}
