package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/internal/testenv"
	"github.com/mirrorctl/mirrorctl/meta"
	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root to %s", why)
	}
}

// testPolicy mirrors everything except *.excl anywhere, whatever lies in scratch/, and the engine's
// rebuilt region files (__db.*), like the real policy does.
func testPolicy(t *testing.T) Policy {
	t.Helper()
	e, err := NewExclusions([]string{"*.excl", "scratch/*"}, func(name string) bool {
		return strings.HasPrefix(name, "__db.")
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type pair struct {
	m       *Mirror
	primary string
	target  string
}

// newPair opens a Mirror between two fresh directories; it is closed when the test ends.
func newPair(t *testing.T, o Options) *pair {
	t.Helper()
	base := t.TempDir()
	return openPair(t, filepath.Join(base, "primary"), filepath.Join(base, "mirror"), o)
}

func openPair(t *testing.T, primary, target string, o Options) *pair {
	t.Helper()
	for _, d := range []string{primary, target} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Open(primary, target, testPolicy(t), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return &pair{m: m, primary: primary, target: target}
}

func (p *pair) P(rel string) string { return filepath.Join(p.primary, filepath.FromSlash(rel)) }
func (p *pair) Q(rel string) string { return filepath.Join(p.target, filepath.FromSlash(rel)) }

// both reports the paths of rel on the primary and on the mirror.
func (p *pair) both(rel string) []string { return []string{p.P(rel), p.Q(rel)} }

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func lstat(t *testing.T, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func exists(path string) bool {
	var st unix.Stat_t
	return unix.Lstat(path, &st) == nil
}

// mustSync brings the mirror up to date and fails the test on error.
func mustSync(t *testing.T, m *Mirror, o SyncOptions) SyncReport {
	t.Helper()
	r, err := m.Sync(context.Background(), o)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return r
}

// requireClean fails the test unless Verify finds the pair equal.
func requireClean(t *testing.T, m *Mirror) {
	t.Helper()
	diffs, err := m.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(diffs) > 0 {
		t.Fatalf("mirror differs from the primary: %v", diffs)
	}
}

// snapshot describes everything under root that a stray write could change: names, types, modes,
// owners, sizes, times, contents, symlink targets and user xattrs.
func snapshot(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line := fmt.Sprintf("%q mode=%o uid=%d gid=%d size=%d mtime=%d.%d", rel, st.Mode, st.Uid, st.Gid, st.Size, st.Mtim.Sec, st.Mtim.Nsec)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" data=%q", b)
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			line += " -> " + target
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			buf := make([]byte, 4096)
			n, err := unix.Llistxattr(p, buf)
			if err == nil {
				names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
				sort.Strings(names)
				for _, name := range names {
					if name == "" {
						continue
					}
					v := make([]byte, 4096)
					k, _ := unix.Lgetxattr(p, name, v)
					line += fmt.Sprintf(" xattr %s=%q", name, v[:max(k, 0)])
				}
			}
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// sameBytes compares two files' contents and reports the first differing offset.
func sameBytes(t *testing.T, a, b string) {
	t.Helper()
	x, y := readFile(t, a), readFile(t, b)
	if bytes.Equal(x, y) {
		return
	}
	i := 0
	for i < len(x) && i < len(y) && x[i] == y[i] {
		i++
	}
	t.Fatalf("%s (%d bytes) and %s (%d bytes) differ from offset %d", a, len(x), b, len(y), i)
}

func isErrno(err error, want unix.Errno) bool {
	var e unix.Errno
	return errors.As(err, &e) && e == want
}

// mountTmpfs mounts a tmpfs of the given size in a new temporary directory and unmounts it when the
// test ends; it skips (or fails under CI) without root.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	needRoot(t, "mount a small tmpfs that runs out of space")
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0755"); err != nil {
		testenv.SkipOrFail(t, "cannot mount a tmpfs at %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func ptr[T any](v T) *T { return &v }

// createFile creates rel with content through the mirror, so both sides have it.
func createFile(t *testing.T, p *pair, rel, content string) {
	t.Helper()
	f, err := p.m.OpenFile(rel, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o644, Owner{})
	if err != nil {
		t.Fatalf("create %s: %v", rel, err)
	}
	if _, err := f.WriteAt([]byte(content), 0); err != nil {
		t.Fatalf("write %s: %v", rel, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close %s: %v", rel, err)
	}
}

// mkdir creates directory rel through the mirror.
func mkdir(t *testing.T, p *pair, rel string) {
	t.Helper()
	if err := p.m.Mkdir(rel, 0o755, Owner{}); err != nil {
		t.Fatalf("mkdir %s: %v", rel, err)
	}
}

func requireGone(t *testing.T, paths ...string) {
	t.Helper()
	for _, path := range paths {
		if exists(path) {
			t.Errorf("%s exists; want it gone", path)
		}
	}
}

func requireContent(t *testing.T, want string, paths ...string) {
	t.Helper()
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if string(b) != want {
			t.Errorf("%s = %q; want %q", path, b, want)
		}
	}
}

// populate fills a primary directory (behind the mirror's back) with every kind of entry.
func populate(t *testing.T, dir string) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "file"), []byte("content"))
	writeFile(t, filepath.Join(dir, "empty"), nil)
	writeFile(t, filepath.Join(dir, "a/b/c/deep"), []byte("deep content"))
	writeFile(t, filepath.Join(dir, "skip.excl"), []byte("excluded"))
	writeFile(t, filepath.Join(dir, "__db.001"), []byte("region"))
	writeFile(t, filepath.Join(dir, "scratch/x/y"), []byte("excluded by path"))
	writeFile(t, filepath.Join(dir, meta.Dir, "identity.json"), []byte("{}"))
	if err := os.Mkdir(filepath.Join(dir, "emptydir"), 0o710); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a/b/c/deep", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/nowhere/at/all", filepath.Join(dir, "a/dangling")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "a/fifo"), 0o620); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(dir, "a/b"), time.Unix(1_000_000, 0), time.Unix(1_000_000, 0)); err != nil {
		t.Fatal(err)
	}
}

func clearDir(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}

func twoTempDirs(t *testing.T) (string, string) {
	base := t.TempDir()
	return filepath.Join(base, "primary"), filepath.Join(base, "mirror")
}

// pread reads the whole file open at fd.
func pread(t *testing.T, fd int) []byte {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, st.Size)
	n, err := readFull(fd, buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// requireSameHandles checks that both descriptors of f hold want.
func requireSameHandles(t *testing.T, f *File, want []byte) {
	t.Helper()
	if !f.Mirrored() {
		t.Fatal("the file is not open on the mirror")
	}
	for side, fd := range map[string]int{"primary": f.P, "mirror": f.q} {
		if got := pread(t, fd); !bytes.Equal(got, want) {
			t.Errorf("%s holds %q; want %q", side, got, want)
		}
	}
}

// metaSnapshot is snapshot of a metadata area without what mirrorctl itself keeps there while files
// are open (the intent record, and the directory times its rewrites change).
func metaSnapshot(t *testing.T, dir string) string {
	t.Helper()
	var keep []string
	for _, line := range strings.Split(snapshot(t, dir), "\n") {
		switch {
		case strings.HasPrefix(line, fmt.Sprintf("%q ", intentFile)), strings.HasPrefix(line, fmt.Sprintf("%q ", intentFile+".tmp")):
			continue
		case strings.HasPrefix(line, `"." `):
			if i, j := strings.Index(line, " mtime="), strings.Index(line, " xattr "); i >= 0 {
				if j < 0 {
					j = len(line)
				}
				line = line[:i] + line[j:]
			}
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

// requireOneInode fails the test unless a and b are the two names of one inode (hard links, 2 links).
func requireOneInode(t *testing.T, a, b string) {
	t.Helper()
	sa, sb := lstat(t, a), lstat(t, b)
	if sa.Ino != sb.Ino || sa.Nlink != 2 {
		t.Errorf("%s and %s: inodes %d and %d, %d links; want one inode with 2 links", a, b, sa.Ino, sb.Ino, sa.Nlink)
	}
}
