package mirror

import (
	"bytes"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/internal/testenv"
	"golang.org/x/sys/unix"
)

func TestFile_WriteTruncateAllocateReachBothSides(t *testing.T) {
	p := newPair(t, Options{OnError: Fail})
	writeFile(t, p.Q("f"), []byte("a stale mirror file of an earlier life"))
	f, err := p.m.OpenFile("f", unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC|unix.O_APPEND, 0o640, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	requireSameHandles(t, f, []byte{})
	for _, path := range p.both("f") {
		if st := lstat(t, path); st.Mode != unix.S_IFREG|0o640 {
			t.Errorf("%s: mode %o; want 0640", path, st.Mode)
		}
	}

	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	if n, err := f.WriteAt(data, 0); err != nil || n != len(data) {
		t.Fatalf("WriteAt = %d, %v", n, err)
	}
	// O_APPEND was dropped: the kernel sends explicit offsets, so this overwrites.
	if _, err := f.WriteAt([]byte("HEAD"), 0); err != nil {
		t.Fatal(err)
	}
	copy(data, "HEAD")
	requireSameHandles(t, f, data)

	if err := f.Truncate(3 << 18); err != nil { // shrink to 768 KiB
		t.Fatal(err)
	}
	data = data[:3<<18]
	requireSameHandles(t, f, data)

	var before unix.Stat_t
	if err := unix.Fstat(f.q, &before); err != nil {
		t.Fatal(err)
	}
	if err := f.Allocate(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 1<<18, 1<<18); err != nil {
		if err == unix.EOPNOTSUPP {
			testenv.SkipOrFail(t, "the file system of %s cannot punch holes", p.target)
		}
		t.Fatal(err)
	}
	clear(data[1<<18 : 2<<18])
	requireSameHandles(t, f, data)
	var after unix.Stat_t
	if err := unix.Fstat(f.q, &after); err != nil {
		t.Fatal(err)
	}
	if after.Blocks >= before.Blocks {
		t.Errorf("the mirror's file uses %d blocks after punching a hole; it used %d before", after.Blocks, before.Blocks)
	}

	if err := f.Allocate(0, 0, 1<<20); err != nil { // extends the size
		t.Fatal(err)
	}
	data = append(data, make([]byte, 1<<20-len(data))...)
	requireSameHandles(t, f, data)

	if err := f.Setattr(SetAttr{Size: ptr(int64(10)), Mode: ptr(uint32(0o600))}); err != nil {
		t.Fatal(err)
	}
	requireSameHandles(t, f, data[:10])
	if err := f.Sync(false); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(true); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	requireClean(t, p.m)
	if s := p.m.Stats(); s.MirrorErrors != 0 || s.Writes != 2 {
		t.Errorf("stats: %+v; want 2 writes and no mirror error", s)
	}
}

// O_RDONLY|O_CREAT must still empty a stale file of that name on the mirror.
func TestFile_ReadOnlyCreateEmptiesAStaleMirrorFile(t *testing.T) {
	p := newPair(t, Options{OnError: Fail})
	writeFile(t, p.Q("f"), []byte("stale"))
	f, err := p.m.OpenFile("f", unix.O_RDONLY|unix.O_CREAT, 0o644, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	requireContent(t, "", p.both("f")...)
}

func TestFile_OnlyWritableMirroredOpensReachTheMirror(t *testing.T) {
	p := newPair(t, Options{OnError: Fail})
	createFile(t, p, "f", "x")
	writeFile(t, p.P("g.excl"), []byte("y"))
	cases := []struct {
		rel   string
		flags int
		want  bool
	}{
		{"f", unix.O_RDONLY, false},
		{"f", unix.O_WRONLY, true},
		{"f", unix.O_RDWR, true},
		{"g.excl", unix.O_RDWR, false},
	}
	for _, c := range cases {
		f, err := p.m.OpenFile(c.rel, c.flags, 0, Owner{})
		if err != nil {
			t.Fatal(err)
		}
		if f.Mirrored() != c.want {
			t.Errorf("OpenFile(%q, %#x).Mirrored() = %v; want %v", c.rel, c.flags, f.Mirrored(), c.want)
		}
		f.Close()
	}
}

// Close gives the mirror the primary's times, so that a later start trusts equal files. (Sync does
// not: a file open at an unclean stop is compared by content, which sets its times; see File.Sync.)
func TestFile_CloseCopiesThePrimaryTimes(t *testing.T) {
	for _, how := range []string{"close", "sync then close"} {
		t.Run(how, func(t *testing.T) {
			p := newPair(t, Options{OnError: Fail})
			f, err := p.m.OpenFile("f", unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o644, Owner{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("data"), 0); err != nil {
				t.Fatal(err)
			}
			// Set the primary's times behind the mirror's back, so they cannot match by accident.
			at, mt := time.Unix(1_500_000_000, 123), time.Unix(1_600_000_000, 456)
			if err := os.Chtimes(p.P("f"), at, mt); err != nil {
				t.Fatal(err)
			}
			if how != "close" {
				if err := f.Sync(true); err != nil {
					t.Fatal(err)
				}
			}
			err = f.Close()
			if err != nil {
				t.Fatal(err)
			}
			st := lstat(t, p.Q("f"))
			if st.Mtim != unix.NsecToTimespec(mt.UnixNano()) || st.Atim != unix.NsecToTimespec(at.UnixNano()) {
				t.Errorf("mirror times after %s: atime %v mtime %v; want %v %v", how, st.Atim, st.Mtim, at, mt)
			}
		})
	}
}

// A file keeps naming the same inode on both sides after its name is removed, renamed or reused:
// databases write to files they unlinked.
func TestFile_UnlinkedButOpenKeepsWritingTheSameInodes(t *testing.T) {
	p := newPair(t, Options{OnError: Fail})
	f, err := p.m.OpenFile("f", unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o644, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("first"), 0); err != nil {
		t.Fatal(err)
	}
	if err := p.m.Rename("f", "g", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("-after-rename"), 5); err != nil {
		t.Fatal(err)
	}
	requireContent(t, "first-after-rename", p.both("g")...)
	if err := p.m.Unlink("g"); err != nil {
		t.Fatal(err)
	}
	createFile(t, p, "g", "a new file of the same name")
	if _, err := f.WriteAt([]byte("-after-unlink"), 18); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(31); err != nil {
		t.Fatal(err)
	}
	if err := f.Setattr(SetAttr{Mode: ptr(uint32(0o600)), Mtime: &unix.Timespec{Sec: 42}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(false); err != nil {
		t.Fatal(err)
	}
	requireSameHandles(t, f, []byte("first-after-rename-after-unlink"))
	for side, fd := range map[string]int{"primary": f.P, "mirror": f.q} {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			t.Fatal(err)
		}
		if st.Nlink != 0 || st.Mode&07777 != 0o600 || st.Mtim.Sec != 42 {
			t.Errorf("%s's unlinked file: %d links, mode %o, mtime %v; want 0 links, 0600, 42", side, st.Nlink, st.Mode&07777, st.Mtim)
		}
	}
	requireContent(t, "a new file of the same name", p.both("g")...)
	requireClean(t, p.m)
}

// Invariant (file.go): overlapping writes reach both sides in the same order, also through different
// handles of the same file.
func TestFile_ConcurrentOverlappingWritesLeaveBothSidesEqual(t *testing.T) {
	p := newPair(t, Options{OnError: Fail})
	const size = 64 << 10
	var handles []*File
	for i := range 3 {
		flags := unix.O_RDWR
		if i == 0 {
			flags |= unix.O_CREAT | unix.O_TRUNC
		}
		f, err := p.m.OpenFile("f", flags, 0o644, Owner{})
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		handles = append(handles, f)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			f := handles[g%len(handles)]
			buf := bytes.Repeat([]byte{byte('A' + g)}, size)
			for range 300 {
				off := r.IntN(size)
				n := 1 + r.IntN(size-off)
				if _, err := f.WriteAt(buf[:n], int64(off)); err != nil {
					t.Errorf("WriteAt: %v", err)
					return
				}
				if r.IntN(50) == 0 {
					if err := f.Truncate(int64(r.IntN(size))); err != nil {
						t.Errorf("Truncate: %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for _, f := range handles {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	sameBytes(t, p.P("f"), p.Q("f"))
	requireClean(t, p.m)
}
