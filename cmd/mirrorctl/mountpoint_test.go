package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mirrorctl/mirrorctl/host"
)

// MountedAt must recognise a mount point whose path has a space (escaped as \040 in mountinfo); the
// escapes themselves are tested in package host.
func TestMountedAt_SpaceInPath(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("MIRRORCTL_REQUIRE_ALL") == "1" {
			t.Fatal("cannot run (MIRRORCTL_REQUIRE_ALL=1): needs root to mount a tmpfs")
		}
		t.Skip("needs root to mount a tmpfs")
	}
	dir := filepath.Join(t.TempDir(), "with space\tand tab")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if ok, _ := host.MountedAt(dir); ok {
		t.Fatalf("%s reported as a mount point before mounting", dir)
	}
	if err := mountTmpfs(dir); err != nil {
		if os.Getenv("MIRRORCTL_REQUIRE_ALL") == "1" {
			t.Fatalf("cannot mount a tmpfs at %s: %v", dir, err)
		}
		t.Skipf("cannot mount a tmpfs at %s: %v", dir, err)
	}
	t.Cleanup(func() { unmountTmpfs(t, dir) })
	ok, fstype := host.MountedAt(dir)
	if !ok || fstype != "tmpfs" {
		t.Errorf("host.MountedAt(%q) = %v, %q; want true, tmpfs", dir, ok, fstype)
	}
	if _, err := checkMountPoint(dir, "/nonexistent/p", "/nonexistent/m"); err == nil || !strings.Contains(err.Error(), "already a mount point (tmpfs)") {
		t.Errorf("checkMountPoint of a mounted directory = %v; want a refusal naming tmpfs", err)
	}
}

func mountTmpfs(dir string) error {
	return syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k")
}

func unmountTmpfs(t *testing.T, dir string) {
	t.Helper()
	if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
		t.Errorf("unmount %s: %v", dir, err)
	}
}

func TestCheckMountPoint_Refusals(t *testing.T) {
	base := t.TempDir()
	primary, mirrorDir := filepath.Join(base, "primary"), filepath.Join(base, "mirror")
	for _, d := range []string{primary, mirrorDir, filepath.Join(base, "empty"), filepath.Join(base, "full"), filepath.Join(primary, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(base, "full", "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(base, "empty"), filepath.Join(base, "link-to-empty")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		mp, want string // want "" when accepted
	}{
		{filepath.Join(base, "empty"), ""},
		{filepath.Join(base, "link-to-empty"), ""},
		{filepath.Join(base, "missing"), "does not exist"},
		{filepath.Join(base, "file"), "is not a directory"},
		{filepath.Join(base, "full"), "is not empty"},
		{primary, "is inside"},
		{filepath.Join(primary, "sub"), "is inside"},
		{mirrorDir, "is inside"},
		{base, "contains the primary or the mirror"},
	}
	for _, c := range cases {
		got, err := checkMountPoint(c.mp, primary, mirrorDir)
		if c.want == "" {
			if err != nil || got != filepath.Join(base, "empty") {
				t.Errorf("checkMountPoint(%s) = %q, %v; want %s accepted", c.mp, got, err, filepath.Join(base, "empty"))
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("checkMountPoint(%s) = %q, %v; want a refusal saying %q", c.mp, got, err, c.want)
		}
	}
}

// resolveMountPoint gives the real path a mount was made at, whatever symlinks lead to it, without
// stat'ing the last name when the mount table lists it (a dead FUSE mount cannot be stat'ed).
func TestResolveMountPoint_FollowsSymlinks(t *testing.T) {
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(base, "real", "mnt")
	if err := os.MkdirAll(real, 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"abs":      real,
		"rel":      "real/mnt",
		"chain":    "abs",
		"dirlink":  "real",
		"viadir":   "dirlink/mnt",
		"loop-a":   "loop-b",
		"loop-b":   "loop-a",
		"dangling": "nowhere",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(base, name)); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		arg, want string // want "" for an error
	}{
		{real, real},
		{filepath.Join(base, "abs"), real},
		{filepath.Join(base, "rel"), real},
		{filepath.Join(base, "chain"), real},
		{filepath.Join(base, "viadir"), real},
		{filepath.Join(base, "dirlink", "mnt"), real},
		{filepath.Join(base, "dangling"), filepath.Join(base, "nowhere")},
		{filepath.Join(base, "loop-a"), ""},
	}
	for _, c := range cases {
		got, err := resolveMountPoint(c.arg)
		if c.want == "" {
			if err == nil || !strings.Contains(err.Error(), "too many levels of symbolic links") {
				t.Errorf("resolveMountPoint(%s) = %q, %v; want a refusal", c.arg, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("resolveMountPoint(%s) = %q, %v; want %s", c.arg, got, err, c.want)
		}
	}
	t.Run("mount point in the mount table", func(t *testing.T) {
		if os.Geteuid() != 0 {
			if os.Getenv("MIRRORCTL_REQUIRE_ALL") == "1" {
				t.Fatal("cannot run (MIRRORCTL_REQUIRE_ALL=1): needs root to mount a tmpfs")
			}
			t.Skip("needs root to mount a tmpfs")
		}
		if err := mountTmpfs(real); err != nil {
			t.Fatalf("cannot mount a tmpfs at %s: %v", real, err)
		}
		t.Cleanup(func() { unmountTmpfs(t, real) })
		if got, err := resolveMountPoint(filepath.Join(base, "viadir")); err != nil || got != real {
			t.Errorf("resolveMountPoint through links to a mount point = %q, %v; want %s", got, err, real)
		}
	})
}
