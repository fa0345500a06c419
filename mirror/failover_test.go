package mirror

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Invariant: only an error that says the primary's file system is gone switches to the mirror; a
// per-file or transient one, or any error of the mirror's side, does not.
func TestPrimaryGone(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{unix.EIO, true},
		{fmt.Errorf("fsync log.0000000001: %w", unix.EIO), true},
		{unix.EROFS, true},
		{unix.ENOTCONN, true},
		{unix.ENOSPC, false},
		{unix.EDQUOT, false},
		{unix.EACCES, false},
		{unix.ENOENT, false},
		{unix.EXDEV, false},
		{&MirrorError{Op: "write", Rel: "a", Err: unix.EIO}, false},
		{errors.New("no errno"), false},
	} {
		if got := primaryGone(c.err); got != c.want {
			t.Errorf("primaryGone(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// Invariant: a full primary is no dead disk: with PrimaryFailover the application gets ENOSPC and the
// primary keeps serving.
func TestFailover_FullPrimaryDoesNotSwitch(t *testing.T) {
	needRoot(t, "mounts a small tmpfs")
	primary := filepath.Join(mountTmpfs(t, "256k"), "env")
	p := openPair(t, primary, filepath.Join(t.TempDir(), "mirror"), Options{OnPrimaryError: PrimaryFailover})
	f, err := p.m.OpenFile("big", unix.O_RDWR|unix.O_CREAT, 0o644, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var werr error
	for off := int64(0); off < 1<<20 && werr == nil; off += 64 << 10 {
		_, werr = f.WriteAt(make([]byte, 64<<10), off)
	}
	if !errors.Is(werr, unix.ENOSPC) {
		t.Fatalf("writing 1 MiB to a 256 KiB primary: %v, want ENOSPC", werr)
	}
	if l := p.m.PrimaryLost(); l != nil {
		t.Fatalf("a full primary switched the mount to the mirror: %+v", l)
	}
	if _, err := os.Stat(filepath.Join(primary, "big")); err != nil {
		t.Fatalf("the primary no longer serves: %v", err)
	}
}
