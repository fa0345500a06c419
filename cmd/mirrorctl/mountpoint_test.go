package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mirrorctl/mirrorctl/host"
)

// escapeMount is what the kernel does to a path in /proc/self/mountinfo (mangle_path with " \t\n\\").
func escapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\\':
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func TestUnescapeMount_Table(t *testing.T) {
	cases := map[string]string{
		`/srv/env`:                 "/srv/env",
		`/srv/my\040env`:           "/srv/my env",
		`/a\011b\012c\134d`:        "/a\tb\nc\\d",
		`\040`:                     " ",
		`/end\134`:                 `/end\`,
		`/x\040\040y`:              "/x  y",
		`/ünï\040cødé`:             "/ünï cødé",
		`/trailing\`:               `/trailing\`,
		`/short\04`:                `/short\04`,
		`/not\xyzoctal`:            `/not\xyzoctal`,
		"/" + escapeMount(`a\040`): `/a\040`, // a literal backslash before digits
	}
	for in, want := range cases {
		if got := host.UnescapeMount(in); got != want {
			t.Errorf("host.UnescapeMount(%q) = %q; want %q", in, got, want)
		}
	}
}

// FuzzUnescapeMount: unescapeMount undoes the kernel's escaping of any path, and never panics or
// grows its input.
func FuzzUnescapeMount(f *testing.F) {
	for _, s := range []string{"/srv/env", "/srv/my env", "a\tb\nc", `back\slash`, `\040`, `\`, `\0`, `\04`, "\x00", "ünï cødé"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := host.UnescapeMount(escapeMount(s)); got != s {
			t.Fatalf("host.UnescapeMount(%q) = %q; want %q back", escapeMount(s), got, s)
		}
		// Raw input, as from a mountinfo line: no panic, never longer.
		if got := host.UnescapeMount(s); len(got) > len(s) {
			t.Fatalf("host.UnescapeMount(%q) = %q is longer than its input", s, got)
		}
		if !strings.Contains(s, `\`) && host.UnescapeMount(s) != s {
			t.Fatalf("host.UnescapeMount(%q) changed a string without escapes", s)
		}
	})
}

// mountedAt must recognise a mount point whose path has a space (escaped as \040 in mountinfo).
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
