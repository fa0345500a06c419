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

	"github.com/mirrorctl/mirrorctl/internal/testenv"
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
	e, err := NewExclusions([]string{"*.excl", "scratch/*"}, func(rel string) bool {
		return strings.HasPrefix(filepath.Base(rel), "__db.")
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
