package mirror

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/mirrorctl/mirrorctl/lock"
	"golang.org/x/sys/unix"
)

func coreAll(rel string) bool { return !IsMeta(rel) }

func newCorePair(t *testing.T, o Options) (*Mirror, string, string) {
	t.Helper()
	p, q := t.TempDir(), t.TempDir()
	m, err := Open(p, q, PolicyFunc(coreAll), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, p, q
}

func coreVerify(t *testing.T, m *Mirror) {
	t.Helper()
	d, err := m.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d) > 0 {
		t.Fatalf("differences: %v", d)
	}
}

// TestMirror_EveryOperationReachesBothSides applies each namespace and attribute change and requires
// both trees to match afterwards.
func TestMirror_EveryOperationReachesBothSides(t *testing.T) {
	m, p, q := newCorePair(t, Options{})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(m.Mkdir("d", 0o750, Owner{}))
	f, err := m.OpenFile("d/f", unix.O_CREAT|unix.O_RDWR|unix.O_TRUNC, 0o640, Owner{})
	must(err)
	_, err = f.WriteAt([]byte("hello world"), 0)
	must(err)
	must(f.Allocate(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, 5))
	must(f.Truncate(8))
	must(f.Sync(true))
	must(f.Close())
	must(m.Symlink("f", "d/s", Owner{}))
	must(m.Link("d/f", "d/hard"))
	must(m.Rename("d/hard", "d/moved", 0))
	size := int64(4)
	mode := uint32(0o600)
	must(m.Setattr("d/moved", SetAttr{Size: &size, Mode: &mode}))
	must(m.Setxattr("d/f", "user.k", []byte("v"), 0))
	must(m.Mkdir("gone", 0o755, Owner{}))
	must(m.Rmdir("gone"))
	must(m.Unlink("d/s"))
	coreVerify(t, m)
	for _, side := range []string{p, q} {
		b, err := os.ReadFile(filepath.Join(side, "d/f"))
		if err != nil || !bytes.Equal(b, []byte("\x00\x00\x00\x00")) {
			t.Errorf("%s: d/f = %q %v", side, b, err)
		}
		v := make([]byte, 8)
		if n, err := unix.Getxattr(filepath.Join(side, "d/f"), "user.k", v); err != nil || string(v[:n]) != "v" {
			t.Errorf("%s: xattr %q %v", side, v[:n], err)
		}
	}
	// RENAME_EXCHANGE and NOREPLACE.
	must(os.WriteFile(filepath.Join(p, "a"), []byte("A"), 0o644))
	must(os.WriteFile(filepath.Join(q, "a"), []byte("A"), 0o644))
	f, err = m.OpenFile("b", unix.O_CREAT|unix.O_WRONLY, 0o644, Owner{})
	must(err)
	_, _ = f.WriteAt([]byte("B"), 0)
	must(f.Close())
	must(m.Rename("a", "b", unix.RENAME_EXCHANGE))
	if err := m.Rename("a", "b", unix.RENAME_NOREPLACE); !errors.Is(err, unix.EEXIST) {
		t.Errorf("RENAME_NOREPLACE onto an existing file: %v", err)
	}
	coreVerify(t, m)
}

// TestMirror_FailedPrimaryLeavesMirrorAlone: a change the primary refuses never reaches the mirror.
func TestMirror_FailedPrimaryLeavesMirrorAlone(t *testing.T) {
	m, p, q := newCorePair(t, Options{})
	if err := m.Mkdir("d", 0o755, Owner{}); err != nil {
		t.Fatal(err)
	}
	// The primary's d is not empty, the mirror's is: rmdir fails on the primary and must not run on
	// the mirror.
	if err := os.WriteFile(filepath.Join(p, "d", "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Rmdir("d"); !errors.Is(err, unix.ENOTEMPTY) {
		t.Fatalf("rmdir of a non-empty directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(q, "d")); err != nil {
		t.Fatalf("the mirror's directory was removed although the primary refused: %v", err)
	}
	if err := m.Mkdir(".mirrorctl/x", 0o755, Owner{}); !errors.Is(err, unix.EPERM) {
		t.Errorf("a change in the metadata area: %v", err)
	}
}

// TestMirror_MixedPolicyRenames: renames across the policy boundary drop or copy on the mirror.
func TestMirror_MixedPolicyRenames(t *testing.T) {
	p, q := t.TempDir(), t.TempDir()
	m, err := Open(p, q, PolicyFunc(func(rel string) bool { return !strings.HasSuffix(rel, ".tmp") && !IsMeta(rel) }), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	f, err := m.OpenFile("x.tmp", unix.O_CREAT|unix.O_RDWR, 0o644, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("scratch"), 0)
	f.Close()
	if _, err := os.Stat(filepath.Join(q, "x.tmp")); err == nil {
		t.Fatal("an excluded file reached the mirror")
	}
	if err := m.Rename("x.tmp", "x.db", 0); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(q, "x.db")); err != nil || string(b) != "scratch" {
		t.Fatalf("excluded→mirrored rename did not copy: %q %v", b, err)
	}
	if err := m.Rename("x.db", "y.tmp", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(q, "x.db")); err == nil {
		t.Fatal("mirrored→excluded rename left the old name on the mirror")
	}
	coreVerify(t, m)
}

// TestFile_ConcurrentOverlappingWrites: overlapping writes from many goroutines leave both sides
// byte-identical (the write pairs are serialised per inode).
func TestFile_ConcurrentOverlappingWrites(t *testing.T) {
	m, _, _ := newCorePair(t, Options{})
	f, err := m.OpenFile("f", unix.O_CREAT|unix.O_RDWR, 0o644, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			buf := bytes.Repeat([]byte{byte('a' + g)}, 4096)
			for i := 0; i < 200; i++ {
				if _, err := f.WriteAt(buf, int64((i*7+g)%50)*1000); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	f.Close()
	coreVerify(t, m)
}

// TestMirror_DegradeAndFailPolicies breaks the mirror (a tmpfs that fills up) and checks both policies.
func TestMirror_DegradeAndFailPolicies(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	for _, policy := range []ErrorPolicy{Degrade, Fail} {
		p, q := t.TempDir(), t.TempDir()
		if err := unix.Mount("tmpfs", q, "tmpfs", 0, "size=64k"); err != nil {
			t.Skipf("cannot mount tmpfs: %v", err)
		}
		t.Cleanup(func() { unix.Unmount(q, unix.MNT_DETACH) })
		m, err := Open(p, q, PolicyFunc(coreAll), Options{OnError: policy})
		if err != nil {
			t.Fatal(err)
		}
		f, err := m.OpenFile("big", unix.O_CREAT|unix.O_RDWR, 0o644, Owner{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteAt(make([]byte, 1<<20), 0)
		switch policy {
		case Degrade:
			if err != nil {
				t.Fatalf("degrade: the write failed: %v", err)
			}
			d := m.Degraded()
			if d == nil || len(d.Dirty) != 1 || d.Dirty[0] != "big" || !strings.Contains(d.Reason, "no space") {
				t.Fatalf("degrade: marker %+v", d)
			}
			if _, ok, _ := ReadDegraded(p); !ok {
				t.Fatal("degrade: no marker on the primary side")
			}
			if err := m.Mkdir("later", 0o755, Owner{}); err != nil {
				t.Fatal(err)
			}
			if d := m.Degraded(); len(d.Dirty) != 2 {
				t.Fatalf("degrade: a later change was not recorded: %v", d.Dirty)
			}
		case Fail:
			var me *MirrorError
			var errno unix.Errno
			if !errors.As(err, &me) || !errors.As(err, &errno) || errno != syscall.ENOSPC {
				t.Fatalf("fail: want a MirrorError with ENOSPC inside, got %v", err)
			}
			if m.Degraded() != nil {
				t.Fatal("fail: the mirror was marked degraded")
			}
		}
		f.Close()
		m.Close()
	}
}

// TestSession_UncleanStopComparesOnlyTheFilesInFlight: after a mount dies, the next start compares
// by metadata, and by content only the files the intent record names; a change that kept size and
// mtime is found in such a file.
func TestSession_UncleanStopComparesOnlyTheFilesInFlight(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	p := filepath.Join(base, "p")
	os.Mkdir(p, 0o755)
	os.WriteFile(filepath.Join(p, "idle"), bytes.Repeat([]byte("i"), 4096), 0o644)
	os.WriteFile(filepath.Join(p, "busy"), bytes.Repeat([]byte("b"), 4096), 0o644)
	pair, _ := CheckPair(p, filepath.Join(base, "q"))
	start := func() *Session {
		pair, _ = CheckPair(p, filepath.Join(base, "q"))
		s, err := Start(ctx, pair, StartOptions{Policy: PolicyFunc(coreAll), Serve: true, Holder: lock.Holder{PID: os.Getpid(), Command: "mount"}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := start()
	f, err := s.OpenFile("busy", unix.O_RDWR, 0, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := ReadIntent(pair.Mirror); !ok || len(got) != 1 || got[0] != "busy" {
		t.Fatalf("intent record while busy is open: %v %v", got, ok)
	}
	// A write that reached the primary but not the mirror when the mount died, size and mtime kept.
	busy := filepath.Join(p, "busy")
	st, _ := os.Stat(busy)
	w, _ := os.OpenFile(busy, os.O_WRONLY, 0)
	w.WriteAt([]byte("X"), 100)
	w.Close()
	os.Chtimes(busy, st.ModTime(), st.ModTime())
	// The same kind of change to a file that was not open is not looked for (a metadata compare).
	idle := filepath.Join(p, "idle")
	st2, _ := os.Stat(idle)
	w, _ = os.OpenFile(idle, os.O_WRONLY, 0)
	w.WriteAt([]byte("Y"), 100)
	w.Close()
	os.Chtimes(idle, st2.ModTime(), st2.ModTime())
	// The mount dies: no Stop. Release what the process would lose.
	unix.Close(f.P)
	s.Mirror.Drain()
	s.lock.Unlock()

	s2 := start()
	defer s2.Stop()
	if s2.FullCompare || len(s2.Intents) != 1 {
		t.Fatalf("the restart should compare by metadata plus the intent record: full=%v intents=%v", s2.FullCompare, s2.Intents)
	}
	b, _ := os.ReadFile(filepath.Join(pair.Mirror, "busy"))
	if len(b) < 101 || b[100] != 'X' {
		t.Fatal("the file in flight was not compared by content")
	}
	b, _ = os.ReadFile(filepath.Join(pair.Mirror, "idle"))
	if b[100] == 'Y' {
		t.Fatal("a file that was not open was compared by content: the intent record is not what limits the repair")
	}
}

// TestSession_MachineCrashComparesEverything: the intent record lives in the page cache; a record
// written on another boot (a machine crash) is not trusted, and the restart compares by content.
func TestSession_MachineCrashComparesEverything(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	p := filepath.Join(base, "p")
	os.Mkdir(p, 0o755)
	os.WriteFile(filepath.Join(p, "f"), []byte("data"), 0o644)
	pair, _ := CheckPair(p, filepath.Join(base, "q"))
	s, err := Start(ctx, pair, StartOptions{Policy: PolicyFunc(coreAll), Serve: true, Holder: lock.Holder{PID: os.Getpid(), Command: "mount"}})
	if err != nil {
		t.Fatal(err)
	}
	s.Mirror.Drain()
	s.lock.Unlock()
	rec, _, _ := ReadRecord(pair.Mirror)
	rec.BootID = "another-boot"
	if err := WriteRecord(pair.Mirror, rec); err != nil {
		t.Fatal(err)
	}
	pair, _ = CheckPair(p, filepath.Join(base, "q"))
	s2, err := Start(ctx, pair, StartOptions{Policy: PolicyFunc(coreAll), Serve: true, Holder: lock.Holder{PID: os.Getpid(), Command: "mount"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Stop()
	if !s2.FullCompare {
		t.Fatal("after a crash on another boot the restart must compare everything by content")
	}
}
