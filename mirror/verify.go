package mirror

// Verify compares the mirror with the primary and reports every difference; it changes nothing
// (RetireLog, which removes a log from the primary once verified, excepted).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"

	"golang.org/x/sys/unix"
)

// Difference is one way in which the mirror does not match the primary.
type Difference struct {
	Rel  string `json:"path"`
	What string `json:"what"`
}

func (d Difference) String() string { return d.Rel + ": " + d.What }

// VerifyOptions tune Verify.
type VerifyOptions struct {
	Keep func(rel string) bool // paths allowed to exist only on the mirror (retained logs)
}

// Verify compares every mirrored entry's type, size, mode, owner, symlink target and content, and lists
// the differences. Unmirrored paths and the metadata area are skipped.
func (m *Mirror) Verify(ctx context.Context, o VerifyOptions) ([]Difference, error) {
	v := &verifier{m: m, ctx: ctx, o: o, pbuf: make([]byte, chunkSize), qbuf: make([]byte, chunkSize)}
	err := v.dir(".")
	sort.Slice(v.diffs, func(i, j int) bool { return v.diffs[i].Rel < v.diffs[j].Rel })
	return v.diffs, err
}

type verifier struct {
	m          *Mirror
	ctx        context.Context
	o          VerifyOptions
	diffs      []Difference
	pbuf, qbuf []byte
}

func (v *verifier) add(rel, format string, args ...any) {
	v.diffs = append(v.diffs, Difference{Rel: rel, What: fmt.Sprintf(format, args...)})
}

func (v *verifier) dir(rel string) error {
	m := v.m
	pents, err := m.primary.readDir(rel)
	if err != nil {
		return fmt.Errorf("primary %s: %w", rel, err)
	}
	qents, err := m.mirror.readDir(rel)
	if err != nil {
		return fmt.Errorf("mirror %s: %w", rel, err)
	}
	onMirror := map[string]bool{}
	for _, e := range qents {
		onMirror[e.Name()] = true
	}
	seen := map[string]bool{}
	for _, e := range pents {
		child := path.Join(rel, e.Name())
		if !m.policy.Mirrored(child) {
			continue
		}
		seen[e.Name()] = true
		if !onMirror[e.Name()] {
			v.add(child, "missing on the mirror")
			continue
		}
		if err := v.entry(child); err != nil {
			return err
		}
	}
	for _, e := range qents {
		child := path.Join(rel, e.Name())
		if seen[e.Name()] || !m.policy.Mirrored(child) || m.keep(child, v.o.Keep) {
			continue
		}
		v.add(child, "only on the mirror")
	}
	return nil
}

func (v *verifier) entry(rel string) error {
	if err := v.ctx.Err(); err != nil {
		return err
	}
	m := v.m
	pst, err := m.primary.lstat(rel)
	if err != nil {
		return fmt.Errorf("primary %s: %w", rel, err)
	}
	qst, err := m.mirror.lstat(rel)
	if err != nil {
		return fmt.Errorf("mirror %s: %w", rel, err)
	}
	if fileType(&pst) != fileType(&qst) {
		v.add(rel, "type differs: primary %s, mirror %s", typeName(&pst), typeName(&qst))
		return nil
	}
	if pst.Mode&07777 != qst.Mode&07777 && fileType(&pst) != unix.S_IFLNK {
		v.add(rel, "mode differs: primary %04o, mirror %04o", pst.Mode&07777, qst.Mode&07777)
	}
	if pst.Uid != qst.Uid || pst.Gid != qst.Gid {
		v.add(rel, "owner differs: primary %d:%d, mirror %d:%d", pst.Uid, pst.Gid, qst.Uid, qst.Gid)
	}
	switch fileType(&pst) {
	case unix.S_IFDIR:
		return v.dir(rel)
	case unix.S_IFLNK:
		pt, _ := m.primary.readlink(rel)
		qt, _ := m.mirror.readlink(rel)
		if pt != qt {
			v.add(rel, "symlink target differs: primary %q, mirror %q", pt, qt)
		}
	case unix.S_IFREG:
		if pst.Size != qst.Size {
			v.add(rel, "size differs: primary %d, mirror %d", pst.Size, qst.Size)
			return nil
		}
		if sum, ok := m.Sealed()[rel]; ok {
			return v.sealed(rel, sum)
		}
		return v.content(rel)
	}
	return nil
}

// content compares the content of rel on both sides (of equal size), extent by extent: a range that
// is a hole on one side is compared as zeros without reading it there, so two sparse files are
// compared by their data alone.
func (v *verifier) content(rel string) error {
	p, err := v.m.primary.open(rel, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("primary %s: %w", rel, err)
	}
	defer unix.Close(p)
	q, err := v.m.mirror.open(rel, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("mirror %s: %w", rel, err)
	}
	defer unix.Close(q)
	var st unix.Stat_t
	if err := unix.Fstat(p, &st); err != nil {
		return fmt.Errorf("primary %s: %w", rel, err)
	}
	c := contentCheck{v: v, rel: rel, p: p, q: q, differs: -1}
	err = extents(p, 0, st.Size, func(pe extent) error {
		return extents(q, pe.off, pe.end, func(qe extent) error { return c.compare(pe.hole, qe) })
	})
	if errors.Is(err, errDiffers) {
		v.add(rel, "content differs in the MiB at offset %d", c.differs/chunkSize*chunkSize)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: compare: %w", rel, err)
	}
	return nil
}

// zeros is what a hole reads as, a chunk of it.
var zeros = make([]byte, chunkSize)

// firstDifference returns the index of the first byte where a and b differ, or where the shorter ends.
func firstDifference(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// errDiffers ends a content walk at the first difference.
var errDiffers = errors.New("content differs")

// contentCheck compares one file's two sides over a range where the primary is a hole or data
// (pHole) and the mirror's extent is qe.
type contentCheck struct {
	v       *verifier
	rel     string
	p, q    int
	differs int64 // the offset of the first difference
}

func (c *contentCheck) compare(pHole bool, qe extent) error {
	if pHole && qe.hole {
		return nil // zeros on both sides, read on neither
	}
	for off := qe.off; off < qe.end; off += chunkSize {
		if err := c.v.ctx.Err(); err != nil {
			return err
		}
		want := int(min(chunkSize, qe.end-off))
		pb, qb := c.v.pbuf[:want], c.v.qbuf[:want]
		if !pHole {
			n, err := readFull(c.p, pb, off)
			if err != nil {
				return fmt.Errorf("primary %s: read: %w", c.rel, err)
			}
			pb = pb[:n]
		}
		if !qe.hole {
			n, err := readFull(c.q, qb, off)
			if err != nil {
				return fmt.Errorf("mirror %s: read: %w", c.rel, err)
			}
			qb = qb[:n]
		}
		if pHole {
			pb = zeros[:want]
		}
		if qe.hole {
			qb = zeros[:want]
		}
		if !bytes.Equal(pb, qb) {
			c.differs = off + int64(firstDifference(pb, qb))
			return errDiffers
		}
	}
	return nil
}

func typeName(st *unix.Stat_t) string {
	switch fileType(st) {
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFREG:
		return "file"
	case unix.S_IFLNK:
		return "symlink"
	default:
		return "special file"
	}
}

// sealed checks a sealed log on the mirror against the checksum recorded when it was sealed, without
// reading the primary.
func (v *verifier) sealed(rel, sum string) error {
	fd, err := v.m.mirror.open(rel, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("mirror %s: %w", rel, err)
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("mirror %s: read: %w", rel, err)
	}
	if hex.EncodeToString(h.Sum(nil)) != sum {
		v.add(rel, "sealed log file does not match the checksum recorded when it was sealed: the mirror's copy is damaged")
	}
	return nil
}

// RetireLog removes a complete log file from the primary once the mirror holds an identical, durable
// copy: the seed routine's "move the inactive logs to the failover directory".
func (m *Mirror) RetireLog(rel string) error {
	if _, ok := m.isLog(rel); !ok {
		return fmt.Errorf("retire %s: not a log file", rel)
	}
	v := &verifier{m: m, ctx: context.Background(), pbuf: make([]byte, chunkSize), qbuf: make([]byte, chunkSize)}
	if err := v.entry(rel); err != nil {
		return err
	}
	if len(v.diffs) > 0 {
		return fmt.Errorf("retire %s: the mirror's copy differs (%s): the primary keeps it", rel, v.diffs[0].What)
	}
	if err := m.primary.unlink(rel); err != nil {
		return err
	}
	m.stats.retained.Add(1)
	return m.primary.syncDir(parentDir(rel))
}
