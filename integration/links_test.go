package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLinks_AcrossThePolicyAreRefused: a mirrored inode stays mirrored under every name. Through a
// real mount (region files __db.*, and --exclude '*.tmp', 'scratch/*' and '*/scratch/*', are not
// mirrored), every link or rename that would give one inode a mirrored and an excluded name, or move
// a directory's entries between the two, fails with EXDEV and changes neither tree; ln says so, mv
// falls back to a copy; writes through every name that is left reach the mirror, and a clean
// unmount leaves a mirror that verify finds equal.
func TestLinks_AcrossThePolicyAreRefused(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	excludes := []string{"--exclude", "*.tmp", "--exclude", "scratch/*", "--exclude", "*/scratch/*"}
	m := startMount(t, primary, mirrorDir, mp, excludes...)
	at := func(dir, name string) string { return filepath.Join(mp, dir, name) }
	link := func(t *testing.T, oldPath, newPath string) {
		t.Helper()
		if err := os.Link(oldPath, newPath); err != nil {
			t.Fatalf("link within one side of the policy: %v", err)
		}
	}

	cases := []struct {
		name  string
		setup func(t *testing.T, dir string) // dir is the case's own directory in the mount
		op    func(dir string) error
	}{
		{
			name:  "link from a mirrored name to a region file name",
			setup: func(t *testing.T, dir string) { writeFile(t, at(dir, "file"), "mirrored") },
			op:    func(dir string) error { return os.Link(at(dir, "file"), at(dir, "__db.999")) },
		},
		{
			name:  "link from an excluded name to a mirrored name",
			setup: func(t *testing.T, dir string) { writeFile(t, at(dir, "__db.001"), "region") },
			op:    func(dir string) error { return os.Link(at(dir, "__db.001"), at(dir, "file")) },
		},
		{
			name: "rename of a mirrored name with another link to an excluded name",
			setup: func(t *testing.T, dir string) {
				writeFile(t, at(dir, "file"), "mirrored")
				link(t, at(dir, "file"), at(dir, "other"))
			},
			op: func(dir string) error { return os.Rename(at(dir, "file"), at(dir, "file.tmp")) },
		},
		{
			name: "rename of an excluded name with another link to a mirrored name",
			setup: func(t *testing.T, dir string) {
				writeFile(t, at(dir, "a.tmp"), "scratch")
				link(t, at(dir, "a.tmp"), at(dir, "b.tmp"))
			},
			op: func(dir string) error { return os.Rename(at(dir, "a.tmp"), at(dir, "file")) },
		},
		{
			name: "rename of a mirrored directory to a name whose entries are excluded",
			setup: func(t *testing.T, dir string) {
				os.Mkdir(at(dir, "d"), 0o755)
				writeFile(t, at(dir, "d/f"), "mirrored")
				link(t, at(dir, "d/f"), at(dir, "other"))
			},
			op: func(dir string) error { return os.Rename(at(dir, "d"), at(dir, "scratch")) },
		},
		{
			name: "exchange of a mirrored file with another link and an excluded file",
			setup: func(t *testing.T, dir string) {
				writeFile(t, at(dir, "file"), "mirrored")
				link(t, at(dir, "file"), at(dir, "other"))
				writeFile(t, at(dir, "x.tmp"), "scratch")
			},
			op: func(dir string) error {
				return unix.Renameat2(unix.AT_FDCWD, at(dir, "file"), unix.AT_FDCWD, at(dir, "x.tmp"), unix.RENAME_EXCHANGE)
			},
		},
		{
			name: "exchange of an excluded file with another link and a mirrored file",
			setup: func(t *testing.T, dir string) {
				writeFile(t, at(dir, "file"), "mirrored")
				writeFile(t, at(dir, "x.tmp"), "scratch")
				link(t, at(dir, "x.tmp"), at(dir, "y.tmp"))
			},
			op: func(dir string) error {
				return unix.Renameat2(unix.AT_FDCWD, at(dir, "file"), unix.AT_FDCWD, at(dir, "x.tmp"), unix.RENAME_EXCHANGE)
			},
		},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := "case" + string(rune('a'+i))
			if err := os.Mkdir(filepath.Join(mp, dir), 0o755); err != nil {
				t.Fatal(err)
			}
			c.setup(t, dir)
			pBefore, qBefore := treeSnapshot(t, primary), treeSnapshot(t, mirrorDir)
			if err := c.op(dir); !errors.Is(err, syscall.EXDEV) {
				t.Fatalf("got %v; want EXDEV (a cross-device link), so that one inode is never mirrored under one name and not another", err)
			}
			sameSnapshot(t, "primary", pBefore, treeSnapshot(t, primary))
			sameSnapshot(t, "mirror", qBefore, treeSnapshot(t, mirrorDir))
		})
	}

	// What a user types: ln says why; mv falls back to copy and unlink, which gives the excluded name
	// an inode of its own, so the linked file stays mirrored under its other name.
	writeFile(t, filepath.Join(mp, "data"), "v1")
	link(t, filepath.Join(mp, "data"), filepath.Join(mp, "data-link"))
	out, err := exec.Command("ln", filepath.Join(mp, "data"), filepath.Join(mp, "__db.999")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cross-device") {
		t.Errorf("ln to a region file name: %v, %q; want a failure that says cross-device link", err, out)
	}
	if out, err := exec.Command("mv", filepath.Join(mp, "data-link"), filepath.Join(mp, "data.tmp")).CombinedOutput(); err != nil {
		t.Fatalf("mv of a linked file to an excluded name should fall back to a copy: %v, %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(mirrorDir, "data.tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the excluded copy reached the mirror: %v", err)
	}
	// A directory whose entries would change sides is copied by mv too, each entry by its new name.
	if err := os.Mkdir(filepath.Join(mp, "scratch"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(mp, "scratch", "work"), "excluded")
	if out, err := exec.Command("mv", "-T", filepath.Join(mp, "scratch"), filepath.Join(mp, "kept")).CombinedOutput(); err != nil {
		t.Fatalf("mv of a directory whose entries become mirrored should fall back to a copy: %v, %s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(mirrorDir, "kept", "work")); err != nil || string(b) != "excluded" {
		t.Errorf("mirror kept/work = %q, %v; want the copy mv made of the now mirrored entry", b, err)
	}

	// Writes through every name that is left reach the mirror when the name is mirrored.
	for _, name := range []string{"data", "casea/file", "caseb/__db.001", "casec/file", "casec/other"} {
		writeFile(t, filepath.Join(mp, name), "changed through "+name)
	}
	writeFile(t, filepath.Join(mp, "data.tmp"), "scratch, primary only")
	for _, name := range []string{"data", "casea/file", "casec/other"} {
		if b, err := os.ReadFile(filepath.Join(mirrorDir, name)); err != nil || string(b) != "changed through "+name {
			t.Errorf("mirror %s = %q, %v; want the write through the mount", name, b, err)
		}
	}
	m.Stop(t)
	verifyClean(t, primary, mirrorDir, excludes...)
}
