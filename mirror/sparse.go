package mirror

// Sparse files: Sync, resync and Verify walk a file by its extents, so that a hole (a range with no
// blocks, which reads as zeros) is neither read nor written. LMDB's data.mdb under MDB_WRITEMAP is a
// sparse file as large as its map; copied byte by byte it would fill the mirror's disk.
//
// Invariants:
//   - extents covers the range it is asked for exactly, in order, with no gap and no overlap; where
//     the file system cannot tell holes from data (lseek answers EINVAL), the whole range is data, so
//     a walk is never wrong, only slower.
//   - A hole on the primary is a hole on the mirror after a copy: data the mirror has there is
//     punched out (FALLOC_FL_PUNCH_HOLE, the size kept); only a file system that cannot punch gets
//     zeros written instead, and only over what is not zero already.

import (
	"errors"

	"golang.org/x/sys/unix"
)

// extent is a range [off, end) of a file: data, or a hole (no blocks; reads as zeros).
type extent struct {
	off, end int64
	hole     bool
}

// extents calls fn with the extents of fd between from and to, in order, covering [from, to)
// exactly, as SEEK_DATA and SEEK_HOLE find them. What lies beyond the file's end (it shrank during
// the walk, or to is past it) is a hole. It moves fd's file offset.
func extents(fd int, from, to int64, fn func(extent) error) error {
	for pos := from; pos < to; {
		d, err := unix.Seek(fd, pos, unix.SEEK_DATA)
		switch {
		case errors.Is(err, unix.ENXIO): // no data at or after pos
			d = to
		case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP):
			return fn(extent{off: pos, end: to}) // holes unknown: all data
		case err != nil:
			return err
		}
		d = min(d, to)
		if d > pos {
			if err := fn(extent{off: pos, end: d, hole: true}); err != nil {
				return err
			}
		}
		if d == to {
			return nil
		}
		h, err := unix.Seek(fd, d, unix.SEEK_HOLE)
		if errors.Is(err, unix.ENXIO) { // the file shrank to d meanwhile
			return fn(extent{off: d, end: to, hole: true})
		}
		if err != nil {
			return err
		}
		h = min(h, to)
		if err := fn(extent{off: d, end: h}); err != nil {
			return err
		}
		pos = h
	}
	return nil
}

// makeHole makes [off, end) of fd (a range the primary has as a hole) read as zeros, without
// writing where fd has a hole already: its data extents there are punched out, or, where the file
// system cannot punch, overwritten with zeros where they are not zero (buf is scratch space). It
// reports whether it changed fd.
func makeHole(fd int, off, end int64, buf []byte) (bool, error) {
	changed := false
	err := extents(fd, off, end, func(e extent) error {
		if e.hole {
			return nil
		}
		err := unix.Fallocate(fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, e.off, e.end-e.off)
		if err == nil {
			changed = true
			return nil
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
			return err
		}
		w, err := zeroFill(fd, e.off, e.end, buf)
		changed = changed || w > 0
		return err
	})
	return changed, err
}

// zeroFill writes zeros over the blocks of [off, end) of fd that are not zero, and returns how many
// bytes it wrote.
func zeroFill(fd int, off, end int64, buf []byte) (int64, error) {
	var written int64
	step := int64(min(len(buf), len(zeros)))
	for pos := off; pos < end; pos += step {
		n := int(min(step, end-pos))
		k, err := readFull(fd, buf[:n], pos)
		if err != nil {
			return written, err
		}
		w, err := writeDiffering(fd, zeros[:k], buf[:k], pos)
		written += w
		if err != nil {
			return written, err
		}
	}
	return written, nil
}
