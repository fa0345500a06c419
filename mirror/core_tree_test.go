package mirror

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func FuzzCleanRel(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "/abs", "a/../../b", "./.", "a//b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := cleanRel(s)
		if err != nil {
			return
		}
		if path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
			t.Fatalf("cleanRel(%q) = %q escapes", s, c)
		}
	})
}

// TestTree_SymlinksCannotLeadOut: a symbolic link inside the tree that points outside cannot be
// followed by any operation of the tree.
func TestTree_SymlinksCannotLeadOut(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../"+filepath.Base(outside), filepath.Join(root, "rel")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "victim"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := openTree(root)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	for _, link := range []string{"abs", "rel"} {
		ops := map[string]func() error{
			"mkdir":    func() error { return tr.mkdir(link+"/d", 0o755) },
			"unlink":   func() error { return tr.unlink(link + "/victim") },
			"rename":   func() error { return tr.rename(link+"/victim", "stolen", 0) },
			"truncate": func() error { return tr.truncate(link+"/victim", 0) },
			"chmod":    func() error { return tr.chmod(link+"/victim", 0o777) },
			"setxattr": func() error { return tr.setxattr(link+"/victim", "user.x", []byte("y"), 0) },
			"open": func() error {
				fd, err := tr.open(link+"/victim", unix.O_WRONLY|unix.O_TRUNC, 0)
				unix.Close(fd)
				return err
			},
			"symlink": func() error { return tr.symlink("x", link+"/new") },
		}
		for name, op := range ops {
			if err := op(); err == nil {
				t.Errorf("%s through the %s symlink succeeded", name, link)
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(outside, "victim"))
	if err != nil || string(b) != "keep" {
		t.Fatalf("the file outside the tree changed: %q %v", b, err)
	}
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 {
		t.Fatalf("something was created outside the tree: %v", ents)
	}
}

func TestTree_HostileNames(t *testing.T) {
	root := t.TempDir()
	tr, err := openTree(root)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	for _, name := range []string{"with space", "new\nline", "ünïcödé", "-dash", "quote'\""} {
		if err := tr.mkdir(name, 0o755); err != nil {
			t.Errorf("mkdir %q: %v", name, err)
		}
		if _, err := tr.lstat(name); err != nil {
			t.Errorf("lstat %q: %v", name, err)
		}
		if err := tr.removeAll(name); err != nil {
			t.Errorf("removeAll %q: %v", name, err)
		}
	}
	if _, err := tr.lstat("../x"); !errors.Is(err, unix.EXDEV) {
		t.Errorf("lstat ../x: %v", err)
	}
}
