package mirror

import (
	"context"
	"path"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// deepDir returns a directory path of depth components of 200 bytes each: with depth 30, about
// 6 KB, well beyond PATH_MAX (4096), which an application reaches relative to its working directory.
func deepDir(depth int) string {
	parts := make([]string, depth)
	for i := range parts {
		parts[i] = strings.Repeat(string(rune('a'+i%26)), 200)
	}
	return path.Join(parts...)
}

// TestMirror_DeeperThanPathMax changes, on both sides, entries whose path from the root is longer
// than PATH_MAX: every kind of change, then Sync and Verify, find them the same on both sides.
func TestMirror_DeeperThanPathMax(t *testing.T) {
	p := newPair(t, Options{})
	m := p.m
	dir := deepDir(30)
	if len(dir) <= unix.PathMax {
		t.Fatalf("test path of %d bytes is not deeper than PATH_MAX", len(dir))
	}
	for d, i := "", 0; i < 30; i++ {
		d = path.Join(d, strings.Split(dir, "/")[i])
		if err := m.Mkdir(d, 0o755, Owner{}); err != nil {
			t.Fatalf("mkdir at depth %d (%d bytes): %v", i+1, len(d), err)
		}
	}
	file := dir + "/file"
	f, err := m.OpenFile(file, unix.O_CREAT|unix.O_WRONLY, 0o600, Owner{})
	if err != nil {
		t.Fatalf("create %d bytes deep: %v", len(file), err)
	}
	if _, err := f.WriteAt([]byte("deep"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(false); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		what string
		do   func() error
	}{
		{"chmod", func() error { return m.Setattr(file, SetAttr{Mode: ptr(uint32(0o640))}) }},
		{"truncate", func() error { return m.Setattr(file, SetAttr{Size: ptr(int64(3))}) }},
		{"setxattr", func() error { return m.Setxattr(file, "user.deep", []byte("v"), 0) }},
		{"link", func() error { return m.Link(file, dir+"/link") }},
		{"rename", func() error { return m.Rename(dir+"/link", dir+"/renamed", 0) }},
		{"symlink", func() error { return m.Symlink("file", dir+"/sym", Owner{}) }},
		{"mknod", func() error { return m.Mknod(dir+"/fifo", unix.S_IFIFO|0o644, 0, Owner{}) }},
		{"fsync dir", func() error { return m.SyncDir(dir) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s %d bytes deep: %v", s.what, len(dir), err)
		}
	}
	st, err := m.PrimaryStatx(file, 0, unix.STATX_BASIC_STATS)
	if err != nil || st.Size != 3 || st.Mode&07777 != 0o640 || st.Nlink != 2 {
		t.Fatalf("PrimaryStatx of the deep file: size %d mode %o links %d, %v; want 3, 640, 2", st.Size, st.Mode&07777, st.Nlink, err)
	}
	if target, err := m.PrimaryReadlink(dir + "/sym"); err != nil || target != "file" {
		t.Fatalf("PrimaryReadlink = %q, %v", target, err)
	}
	buf := make([]byte, 8)
	if n, err := m.PrimaryGetxattr(file, "user.deep", buf); err != nil || string(buf[:n]) != "v" {
		t.Fatalf("PrimaryGetxattr = %q, %v", buf[:n], err)
	}
	fd, err := m.PrimaryOpen(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0, Owner{})
	if err != nil {
		t.Fatalf("PrimaryOpen of the deep directory: %v", err)
	}
	unix.Close(fd)
	requireClean(t, m)
	if _, err := m.Sync(context.Background(), SyncOptions{Full: true}); err != nil {
		t.Fatalf("Sync of a tree deeper than PATH_MAX: %v", err)
	}
	for _, rel := range []string{file, dir + "/renamed", dir + "/sym", dir + "/fifo"} {
		if err := m.Unlink(rel); err != nil {
			t.Fatalf("unlink %d bytes deep: %v", len(rel), err)
		}
	}
	for d := dir; d != "."; d = path.Dir(d) {
		if err := m.Rmdir(d); err != nil {
			t.Fatalf("rmdir %d bytes deep: %v", len(d), err)
		}
	}
	requireClean(t, m)
}

// TestTree_DescendRefusesWhatItMustNot: the steps of a long path obey the same rules as one call:
// no way out of the tree, no following a symbolic link at a step's end.
func TestTree_DescendRefusesWhatItMustNot(t *testing.T) {
	p := newPair(t, Options{})
	tr := p.m.primary
	dir := deepDir(15)
	fd, err := tr.open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != unix.ENOENT {
		t.Fatalf("open of a missing deep path: fd %d, %v; want ENOENT", fd, err)
	}
	if _, err := tr.open(strings.Repeat("n", maxResolve+10)+"/x", unix.O_RDONLY, 0); err != unix.ENAMETOOLONG {
		t.Fatalf("a name longer than any NAME_MAX: %v; want ENAMETOOLONG", err)
	}
}

// TestMirror_ChangesToTheRoot: the root has no parent to name it from, yet chmod, chown, times and
// xattrs of the mount's root directory must work, on both sides.
func TestMirror_ChangesToTheRoot(t *testing.T) {
	p := newPair(t, Options{})
	m := p.m
	ts := unix.NsecToTimespec(1_600_000_000_123_456_789)
	steps := []struct {
		what string
		do   func() error
	}{
		{"chmod", func() error { return m.Setattr(".", SetAttr{Mode: ptr(uint32(0o751))}) }},
		{"chown", func() error { return m.Setattr(".", SetAttr{UID: ptr(0), GID: ptr(0)}) }},
		{"utimes", func() error { return m.Setattr(".", SetAttr{Atime: &ts, Mtime: &ts}) }},
		{"setxattr", func() error { return m.Setxattr(".", "user.root", []byte("r"), 0) }},
		{"removexattr", func() error { return m.Removexattr(".", "user.root") }},
		{"setxattr again", func() error { return m.Setxattr(".", "user.kept", []byte("k"), 0) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s of the root: %v", s.what, err)
		}
	}
	for _, dir := range []string{p.primary, p.target} {
		st := lstat(t, dir)
		if st.Mode&07777 != 0o751 || st.Mtim.Nano() != ts.Nano() {
			t.Errorf("%s: mode %o, mtime %d; want 751 and %d", dir, st.Mode&07777, st.Mtim.Nano(), ts.Nano())
		}
		buf := make([]byte, 4)
		if n, err := unix.Lgetxattr(dir, "user.kept", buf); err != nil || string(buf[:n]) != "k" {
			t.Errorf("%s: user.kept = %q, %v", dir, buf[:n], err)
		}
	}
}
