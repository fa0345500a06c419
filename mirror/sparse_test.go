package mirror

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const kib = 1 << 10

// layout is a sparse file to build: its size and the data written into it (offset -> bytes), the
// rest holes.
type layout struct {
	size int64
	data map[int64][]byte
}

// block returns n KiB of a non-zero byte pattern that depends on seed.
func block(seed byte, n int) []byte {
	b := make([]byte, n*kib)
	for i := range b {
		b[i] = seed + byte(i%251) + 1
		if b[i] == 0 {
			b[i] = 1
		}
	}
	return b
}

// makeSparse creates path with layout l: an ftruncate to the size and writes at the offsets, so
// everything else is a hole.
func makeSparse(t *testing.T, path string, l layout) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(l.size); err != nil {
		t.Fatal(err)
	}
	for off, b := range l.data {
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
}

// contents returns what a file with layout l reads as.
func (l layout) contents() []byte {
	b := make([]byte, l.size)
	for off, d := range l.data {
		copy(b[off:], d)
	}
	return b
}

// sparseDirs are the file systems the extent tests run on: the test's temporary directory (ext4 or
// xfs here) and, as root, a tmpfs, which answers SEEK_HOLE exactly too.
func sparseDirs(t *testing.T) map[string]string {
	t.Helper()
	dirs := map[string]string{"tempdir": t.TempDir()}
	if os.Geteuid() == 0 {
		dirs["tmpfs"] = mountTmpfs(t, "64m")
	}
	return dirs
}

func walk(t *testing.T, path string, from, to int64) []extent {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var got []extent
	if err := extents(fd, from, to, func(e extent) error { got = append(got, e); return nil }); err != nil {
		t.Fatalf("extents %s [%d, %d): %v", path, from, to, err)
	}
	return got
}

func data(off, end int64) extent { return extent{off: off, end: end} }
func hole(off, end int64) extent { return extent{off: off, end: end, hole: true} }

func TestExtents_CoverTheRangeWithDataAndHoles(t *testing.T) {
	const m = 1 << 20
	cases := []struct {
		name     string
		l        layout
		from, to int64 // 0, 0: the whole file
		want     []extent
	}{
		{"empty file", layout{}, 0, 0, nil},
		{"all hole", layout{size: 8 * m}, 0, 0, []extent{hole(0, 8*m)}},
		{"all data", layout{size: 64 * kib, data: map[int64][]byte{0: block(1, 64)}}, 0, 0,
			[]extent{data(0, 64*kib)}},
		{"data then hole", layout{size: 4 * m, data: map[int64][]byte{0: block(1, 8)}}, 0, 0,
			[]extent{data(0, 8*kib), hole(8*kib, 4*m)}},
		{"hole then data to the end", layout{size: 2*m + 4*kib, data: map[int64][]byte{2 * m: block(2, 4)}}, 0, 0,
			[]extent{hole(0, 2*m), data(2*m, 2*m+4*kib)}},
		{"islands", layout{size: 16 * m, data: map[int64][]byte{m: block(1, 4), 5 * m: block(2, 12), 9 * m: block(3, 4)}}, 0, 0,
			[]extent{hole(0, m), data(m, m+4*kib), hole(m+4*kib, 5*m), data(5*m, 5*m+12*kib),
				hole(5*m+12*kib, 9*m), data(9*m, 9*m+4*kib), hole(9*m+4*kib, 16*m)}},
		{"a range inside a hole", layout{size: 16 * m, data: map[int64][]byte{0: block(1, 4), 8 * m: block(2, 4)}}, m, 2 * m,
			[]extent{hole(m, 2*m)}},
		{"a range that cuts data", layout{size: 16 * m, data: map[int64][]byte{m: block(1, 16)}}, m + 4*kib, m + 8*kib,
			[]extent{data(m+4*kib, m+8*kib)}},
		{"a range past the end", layout{size: 4 * kib, data: map[int64][]byte{0: block(1, 4)}}, 0, m,
			[]extent{data(0, 4*kib), hole(4*kib, m)}},
	}
	for fsName, dir := range sparseDirs(t) {
		for _, c := range cases {
			t.Run(fsName+"/"+c.name, func(t *testing.T) {
				path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-"))
				makeSparse(t, path, c.l)
				to := c.to
				if c.from == 0 && to == 0 {
					to = c.l.size
				}
				if got := walk(t, path, c.from, to); fmt.Sprint(got) != fmt.Sprint(c.want) {
					t.Errorf("extents = %v\nwant       %v", got, c.want)
				}
			})
		}
	}
}

// blocks returns the 512-byte blocks allocated to path.
func blocks(t *testing.T, path string) int64 {
	t.Helper()
	st := lstat(t, path)
	return st.Blocks
}

func TestMakeHole_PunchesOnlyWhereTheFileHasData(t *testing.T) {
	for fsName, dir := range sparseDirs(t) {
		t.Run(fsName, func(t *testing.T) {
			path := filepath.Join(dir, "dense")
			dense := bytes.Repeat([]byte{7}, 1<<20)
			writeFile(t, path, dense)
			fd, err := unix.Open(path, unix.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			buf := make([]byte, chunkSize)
			changed, err := makeHole(fd, 64*kib, 1<<20, buf)
			if err != nil || !changed {
				t.Fatalf("makeHole of a dense range = %v, %v; want changed", changed, err)
			}
			want := append(bytes.Repeat([]byte{7}, 64*kib), make([]byte, 1<<20-64*kib)...)
			if got := readFile(t, path); !bytes.Equal(got, want) {
				t.Fatalf("after makeHole the file does not read as its first 64 KiB and zeros")
			}
			if got := walk(t, path, 0, 1<<20); fmt.Sprint(got) != fmt.Sprint([]extent{data(0, 64*kib), hole(64*kib, 1<<20)}) {
				t.Errorf("extents after makeHole = %v; want 64 KiB of data, then a hole", got)
			}
			if b := blocks(t, path); b > 2*64*kib/512 {
				t.Errorf("%d blocks allocated after the punch; want about 128 (64 KiB)", b)
			}
			changed, err = makeHole(fd, 64*kib, 1<<20, buf)
			if err != nil || changed {
				t.Errorf("makeHole of a hole = %v, %v; want nothing changed", changed, err)
			}
		})
	}
}

func TestZeroFill_WritesOnlyTheBlocksThatAreNotZero(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	b := make([]byte, 64*kib)
	b[5*kib] = 1 // block 1
	b[40*kib] = 9
	writeFile(t, path, b)
	fd, err := unix.Open(path, unix.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	w, err := zeroFill(fd, 0, 64*kib, make([]byte, 16*kib))
	if err != nil || w != 2*syncBlock {
		t.Fatalf("zeroFill = %d, %v; want the two blocks that held a byte (8192)", w, err)
	}
	if got := readFile(t, path); !bytes.Equal(got, make([]byte, 64*kib)) {
		t.Errorf("zeroFill left non-zero bytes")
	}
}

// twoGiB is the size of the sparse file of the issue: LMDB's map under MDB_WRITEMAP.
const twoGiB = 2 << 30

// sparseDB is a 2 GiB sparse file with a few KiB of data at several offsets, the last one unaligned
// and at the very end.
var sparseDB = layout{size: twoGiB, data: map[int64][]byte{
	0: block(1, 4), 300 << 20: block(2, 8), 1 << 30: block(3, 4), twoGiB - 3000: block(4, 3)[:3000],
}}

// Invariant: a hole on the primary is a hole on the mirror after a copy (sparse.go).
func TestMirror_SyncKeepsHoles(t *testing.T) {
	p := newPair(t, Options{})
	makeSparse(t, p.P("data.mdb"), sparseDB)
	r := mustSync(t, p.m, SyncOptions{})
	if r.BytesCopied > 64*kib {
		t.Errorf("sync copied %d bytes of a file with 19 KiB of data; want only its data", r.BytesCopied)
	}
	if b := blocks(t, p.Q("data.mdb")); b > blocks(t, p.P("data.mdb"))+64 {
		t.Errorf("the mirror's copy has %d blocks allocated, the primary's %d: its holes were filled", b, blocks(t, p.P("data.mdb")))
	}
	requireSparseEqual(t, p, "data.mdb", sparseDB)
	requireClean(t, p.m)
}

// A mirror file that has data where the primary now has holes (an older dense copy, or a range
// punched on the primary behind the mount's back) gets those holes punched by a full sync.
func TestMirror_FullSyncPunchesTheMirrorWhereThePrimaryHasHoles(t *testing.T) {
	p := newPair(t, Options{})
	const size = 16 << 20
	makeSparse(t, p.P("f"), layout{size: size, data: map[int64][]byte{4 << 20: block(1, 4)}})
	dense := make([]byte, size)
	for i := range dense {
		dense[i] = 0xAA
	}
	writeFile(t, p.Q("f"), dense)
	mustSync(t, p.m, SyncOptions{Full: true})
	want := layout{size: size, data: map[int64][]byte{4 << 20: block(1, 4)}}
	requireSparseEqual(t, p, "f", want)
	if b := blocks(t, p.Q("f")); b > 64 {
		t.Errorf("the mirror's copy has %d blocks allocated after the sync; want the primary's few (%d)", b, blocks(t, p.P("f")))
	}
	// And the primary's data in what is a hole on the mirror is written there.
	makeSparse(t, p.P("g"), layout{size: size, data: map[int64][]byte{0: block(1, 4), 8 << 20: block(2, 4)}})
	makeSparse(t, p.Q("g"), layout{size: size, data: map[int64][]byte{0: block(1, 4)}})
	mustSync(t, p.m, SyncOptions{Full: true})
	requireSparseEqual(t, p, "g", layout{size: size, data: map[int64][]byte{0: block(1, 4), 8 << 20: block(2, 4)}})
}

// requireSparseEqual checks that both sides of rel have the same extents and read as l: holes as
// zeros, and each data extent (read alone, so a 2 GiB file costs only its data) as l has it there.
func requireSparseEqual(t *testing.T, p *pair, rel string, l layout) {
	t.Helper()
	requireLayout(t, p.P(rel), l)
	requireLayout(t, p.Q(rel), l)
	pe, qe := walk(t, p.P(rel), 0, l.size), walk(t, p.Q(rel), 0, l.size)
	if fmt.Sprint(pe) != fmt.Sprint(qe) {
		t.Errorf("%s: extents differ\nprimary %v\nmirror  %v", rel, pe, qe)
	}
}

// requireLayout checks that path has l's size and reads as l: its holes lie where l has no data, and
// its data extents hold what l has there.
func requireLayout(t *testing.T, path string, l layout) {
	t.Helper()
	if st := lstat(t, path); st.Size != l.size {
		t.Fatalf("%s: size %d; want %d", path, st.Size, l.size)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, e := range walk(t, path, 0, l.size) {
		want := l.between(e.off, e.end)
		if e.hole {
			if !allZeroBytes(want) {
				t.Errorf("%s: [%d, %d) is a hole, but data was written there", path, e.off, e.end)
			}
			continue
		}
		got := make([]byte, e.end-e.off)
		if _, err := f.ReadAt(got, e.off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: [%d, %d) differs from what was written at byte %d", path, e.off, e.end, e.off+int64(firstDifference(got, want)))
		}
	}
}

// between returns what a file with layout l holds in [off, end); the range must be small or all
// zeros (a hole), for which it returns nil.
func (l layout) between(off, end int64) []byte {
	var b []byte
	for o, d := range l.data {
		if o+int64(len(d)) <= off || o >= end {
			continue
		}
		if b == nil {
			b = make([]byte, end-off)
		}
		lo, hi := max(o, off), min(o+int64(len(d)), end)
		copy(b[lo-off:hi-off], d[lo-o:hi-o])
	}
	if b == nil && end-off <= 1<<20 {
		b = make([]byte, end-off)
	}
	return b
}

func allZeroBytes(b []byte) bool { return lastNonZero(b) == 0 }

func TestMirror_VerifyComparesHolesAsZeros(t *testing.T) {
	const size = 8 << 20
	l := layout{size: size, data: map[int64][]byte{2 << 20: block(1, 4)}}
	cases := []struct {
		name   string
		mirror func(t *testing.T, path string)
		want   string // "" for no difference
	}{
		{"the same holes", func(t *testing.T, path string) { makeSparse(t, path, l) }, ""},
		{"zeros written where the primary has holes", func(t *testing.T, path string) {
			writeFile(t, path, l.contents())
		}, ""},
		{"a byte in the primary's hole", func(t *testing.T, path string) {
			b := l.contents()
			b[5<<20+17] = 1
			writeFile(t, path, b)
		}, "content differs in the MiB at offset 5242880"},
		{"a hole where the primary has data", func(t *testing.T, path string) {
			makeSparse(t, path, layout{size: size})
		}, "content differs in the MiB at offset 2097152"},
		{"the data moved", func(t *testing.T, path string) {
			makeSparse(t, path, layout{size: size, data: map[int64][]byte{7 << 20: block(1, 4)}})
		}, "content differs in the MiB at offset 2097152"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, Options{})
			makeSparse(t, p.P("f"), l)
			c.mirror(t, p.Q("f"))
			diffs, err := p.m.Verify(context.Background(), VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got string
			for _, d := range diffs {
				if d.Rel == "f" && strings.HasPrefix(d.What, "content") {
					got = d.What
				}
			}
			if got != c.want {
				t.Errorf("verify says %q (all: %v); want %q", got, diffs, c.want)
			}
		})
	}
}
