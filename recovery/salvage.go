package recovery

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/mirror"
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
func salvage(eng engine.Engine, primary, mirrorDir string) ([]Salvaged, string, error) {
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

// appendTail appends to dst the bytes that src has beyond dst's size, after checking that src starts
// with dst's bytes.
func appendTail(src, dst string) (int64, error) {
	s, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	d, err := os.OpenFile(dst, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	sst, err := s.Stat()
	if err != nil {
		return 0, err
	}
	dst2, err := d.Stat()
	if err != nil {
		return 0, err
	}
	if sst.Size() <= dst2.Size() {
		return 0, nil
	}
	// Compare the last MiB the mirror has (and the first block): enough to tell another history apart
	// without reading a long file twice.
	if err := samePrefix(s, d, dst2.Size()); err != nil {
		return 0, err
	}
	if _, err := s.Seek(dst2.Size(), io.SeekStart); err != nil {
		return 0, err
	}
	if _, err := d.Seek(dst2.Size(), io.SeekStart); err != nil {
		return 0, err
	}
	n, err := io.Copy(d, s)
	if err != nil {
		return n, err
	}
	return n, d.Sync()
}

func samePrefix(a, b *os.File, size int64) error {
	const window = 1 << 20
	for _, off := range []int64{0, max(0, size-window)} {
		n := min(window, size-off)
		ab, bb := make([]byte, n), make([]byte, n)
		if _, err := a.ReadAt(ab, off); err != nil {
			return err
		}
		if _, err := b.ReadAt(bb, off); err != nil {
			return err
		}
		if !bytes.Equal(ab, bb) {
			return errDiverged
		}
	}
	return nil
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
	return n, mirror.SyncDir(filepath.Dir(dst))
}
