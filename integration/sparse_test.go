package integration

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sparseSize is the size of the sparse files here: LMDB's map under MDB_WRITEMAP, 2 GiB of holes
// holding a few KiB of data. The mirror's disk is smaller than that (300 MiB), so a copy that filled
// the holes could not even fit.
const sparseSize = 2 << 30

// pattern is n bytes of non-zero data that depend on seed.
func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed ^ byte(i%253) | 1
	}
	return b
}

// writeSparse writes data at each offset of f (already sized): everything else stays a hole.
func writeSparse(t *testing.T, f *os.File, data map[int64][]byte) {
	t.Helper()
	for off, b := range data {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatalf("write %s at %d: %v", f.Name(), off, err)
		}
	}
}

// createSparse creates path as a sparseSize file holding data at the offsets (ftruncate, pwrite),
// through whatever path names: the primary directory or the mount.
func createSparse(t *testing.T, path string, data map[int64][]byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(sparseSize); err != nil {
		t.Fatal(err)
	}
	writeSparse(t, f, data)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// allocated returns the bytes of disk space given to path (st_blocks).
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// requireSparseCopy checks that the mirror's copy of rel reads as the primary's and, like it, has
// only a little disk space allocated: its holes were not filled.
func requireSparseCopy(t *testing.T, primary, mirrorDir, rel string) {
	t.Helper()
	p, q := filepath.Join(primary, rel), filepath.Join(mirrorDir, rel)
	if pa, qa := allocated(t, p), allocated(t, q); qa > 16<<20 || pa > 16<<20 {
		t.Errorf("%s: %d bytes allocated on the mirror, %d on the primary, for a %d-byte sparse file with a few KiB of data: the holes were filled",
			rel, qa, pa, sparseSize)
	}
	if off, same := sameContent(t, p, q); !same {
		t.Errorf("%s: the mirror's copy differs from the primary's at byte %d", rel, off)
	}
}

// sameContent compares two files of equal size as they read (holes as zeros), reading only the
// ranges that are data on either side: elsewhere both are holes, zeros on both. It returns where
// they first differ.
func sameContent(t *testing.T, a, b string) (int64, bool) {
	t.Helper()
	fa, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	sa, _ := fa.Stat()
	sb, _ := fb.Stat()
	if sa.Size() != sb.Size() {
		return min(sa.Size(), sb.Size()), false
	}
	for _, r := range append(dataRanges(t, fa, sa.Size()), dataRanges(t, fb, sb.Size())...) {
		for off := r[0]; off < r[1]; off += 4 << 20 {
			n := min(4<<20, r[1]-off)
			ba, bb := make([]byte, n), make([]byte, n)
			if _, err := fa.ReadAt(ba, off); err != nil {
				t.Fatal(err)
			}
			if _, err := fb.ReadAt(bb, off); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(ba, bb) {
				i := 0
				for ba[i] == bb[i] {
					i++
				}
				return off + int64(i), false
			}
		}
	}
	return 0, true
}

// dataRanges lists the [start, end) ranges of f that SEEK_DATA and SEEK_HOLE call data.
func dataRanges(t *testing.T, f *os.File, size int64) [][2]int64 {
	t.Helper()
	var rs [][2]int64
	fd := int(f.Fd())
	for pos := int64(0); pos < size; {
		d, err := unix.Seek(fd, pos, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		h, err := unix.Seek(fd, d, unix.SEEK_HOLE)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, [2]int64{d, min(h, size)})
		pos = h
	}
	return rs
}

// isHole reports whether [off, off+n) of path is all hole (SEEK_DATA finds no data in it).
func isHole(t *testing.T, path string, off, n int64) bool {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	d, err := unix.Seek(fd, off, unix.SEEK_DATA)
	if errors.Is(err, unix.ENXIO) {
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return d >= off+n
}

// TestSparse_HolesStayHolesOnTheMirror: a 2 GiB sparse file with a few KiB of data stays a sparse file
// on the mirror through `sync --files`, through writes at far offsets by the mount (a file created
// sparse through it: ftruncate, then pwrite), through a resync onto a new disk after the mirror's
// died, and through a resync of an existing copy after writes and a hole punched behind the mount's
// back (the mirror's copy gets the hole punched too), and through the start after the mount was
// killed with the file open. verify finds the pair equal throughout.
func TestSparse_HolesStayHolesOnTheMirror(t *testing.T) {
	needFUSE(t)
	disk := newDisk(t, 300<<20)
	primary, _, mp := dirs(t)
	mirrorDir := disk.sub(t, "env")

	createSparse(t, filepath.Join(primary, "data.mdb"), map[int64][]byte{
		0: pattern(1, 4096), 256 << 20: pattern(2, 8192), 1 << 30: pattern(3, 4096), sparseSize - 1000: pattern(4, 1000),
	})
	mustRun(t, "sync", "--primary", primary, "--mirror", mirrorDir, "--files")
	requireSparseCopy(t, primary, mirrorDir, "data.mdb")
	verifyClean(t, primary, mirrorDir)

	m := startMount(t, primary, mirrorDir, mp, "--resync-interval", "0")
	m.ExpectDegraded = true // the mirror's disk dies, and writes behind the mount's back degrade it
	createSparse(t, filepath.Join(mp, "live.mdb"), map[int64][]byte{
		4096: pattern(5, 4096), 700 << 20: pattern(6, 4096), sparseSize - 4096: pattern(7, 4096),
	})
	requireSparseCopy(t, primary, mirrorDir, "live.mdb")

	// The mirror's disk dies; the application writes on (degraded); a new disk; resync.
	disk.Shutdown(t)
	f, err := os.OpenFile(filepath.Join(mp, "data.mdb"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	writeSparse(t, f, map[int64][]byte{512 << 20: pattern(8, 4096), 1536 << 20: pattern(9, 4096)})
	f.Close()
	eventually(t, 10*time.Second, "the mirror to degrade", func() bool { s, _ := status(t, mp); return s.State == "degraded" })
	disk.Replace(t)
	mustRun(t, "resync", "--no-progress", mp)
	for _, rel := range []string{"data.mdb", "live.mdb"} {
		requireSparseCopy(t, primary, mirrorDir, rel)
	}

	// Behind the mount's back: data written far out and a range of data punched out on the primary.
	// The resync copies onto the existing copy: the mirror's data in the new hole is punched too.
	pf, err := os.OpenFile(filepath.Join(primary, "data.mdb"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	writeSparse(t, pf, map[int64][]byte{1800 << 20: pattern(10, 4096)})
	if err := unix.Fallocate(int(pf.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 256<<20, 8192); err != nil {
		t.Fatal(err)
	}
	pf.Close()
	eventually(t, 10*time.Second, "the writes behind the mount's back to be marked for resync", func() bool {
		s, _ := status(t, mp)
		return s.Degraded != nil && slices.Contains(s.Degraded.Dirty, "data.mdb")
	})
	if isHole(t, filepath.Join(mirrorDir, "data.mdb"), 256<<20, 8192) {
		t.Fatal("the mirror's data.mdb has a hole at 256 MiB before the resync: the test proves nothing")
	}
	mustRun(t, "resync", "--no-progress", mp)
	requireSparseCopy(t, primary, mirrorDir, "data.mdb")
	if !isHole(t, filepath.Join(mirrorDir, "data.mdb"), 256<<20, 8192) {
		t.Error("the range punched out of the primary's data.mdb is still data on the mirror after the resync")
	}

	// The mount dies while a sparse file is open for writing: the next start compares that file by
	// content (the intent record names it), and keeps it sparse too.
	f, err = os.OpenFile(filepath.Join(mp, "live.mdb"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	writeSparse(t, f, map[int64][]byte{1200 << 20: pattern(11, 4096)})
	m.Kill(t)
	f.Close()
	m = startMount(t, primary, mirrorDir, mp)
	if !strings.Contains(m.Output(), "by content for the") {
		t.Errorf("the start after the kill did not compare the open file by content:\n%s", m.Output())
	}
	for _, rel := range []string{"data.mdb", "live.mdb"} {
		requireSparseCopy(t, primary, mirrorDir, rel)
	}
	m.Stop(t)
	verifyClean(t, primary, mirrorDir)
}
