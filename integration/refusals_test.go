package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMount_Refusals checks every refusal of mount: a non-zero exit, a one-line error naming the
// problem, and nothing changed on disk (no metadata written, nothing mounted).
func TestMount_Refusals(t *testing.T) {
	needFUSE(t)
	base := t.TempDir()
	mk := func(p string) string {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	primary := mk(filepath.Join(base, "primary"))
	writeFile(t, filepath.Join(primary, "data.db"), "data")
	mirrorDir := filepath.Join(base, "mirror")
	mp := mk(filepath.Join(base, "mnt"))
	file := filepath.Join(base, "a-file")
	writeFile(t, file, "x")
	full := mk(filepath.Join(base, "full"))
	writeFile(t, filepath.Join(full, "something"), "x")
	tmpfs := mk(filepath.Join(base, "tmpfs"))
	if err := syscall.Mount("tmpfs", tmpfs, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	defer syscall.Unmount(tmpfs, syscall.MNT_DETACH)
	// A mirror that belongs to another primary.
	other := mk(filepath.Join(base, "other"))
	foreign := filepath.Join(base, "foreign")
	mustRun(t, "sync", "--primary", other, "--mirror", foreign)
	// A non-empty directory that was never a mirror.
	stranger := mk(filepath.Join(base, "stranger"))
	writeFile(t, filepath.Join(stranger, "keep-me"), "precious")

	// A mirror named by a symbolic link whose target is gone.
	dangling := filepath.Join(base, "dangling")
	if err := os.Symlink(filepath.Join(base, "gone"), dangling); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"primary missing", []string{"--primary", filepath.Join(base, "nope"), "--mirror", mirrorDir, mp}, "primary"},
		{"primary is a file", []string{"--primary", file, "--mirror", mirrorDir, mp}, "not a directory"},
		{"primary is the mirror", []string{"--primary", primary, "--mirror", primary, mp}, "same directory"},
		{"mirror inside primary", []string{"--primary", primary, "--mirror", filepath.Join(primary, "m"), mp}, "inside the primary"},
		{"primary inside mirror", []string{"--primary", primary, "--mirror", base, mp}, "inside the mirror"},
		{"mount point inside primary", []string{"--primary", primary, "--mirror", mirrorDir, mk(filepath.Join(primary, "mnt"))}, "inside"},
		{"mount point not empty", []string{"--primary", primary, "--mirror", mirrorDir, full}, "not empty"},
		{"mount point missing", []string{"--primary", primary, "--mirror", mirrorDir, filepath.Join(base, "nomp")}, "does not exist"},
		{"mount point is a mount point", []string{"--primary", primary, "--mirror", mirrorDir, tmpfs}, "already a mount point"},
		{"bad error policy", []string{"--primary", primary, "--mirror", mirrorDir, "--on-mirror-error", "ignore", mp}, "degrade or fail"},
		{"bad primary error policy", []string{"--primary", primary, "--mirror", mirrorDir, "--on-primary-error", "sometimes", mp}, "use fail or failover"},
		{"rebuilt files inside the mirror", []string{"--primary", primary, "--mirror", mirrorDir, "--rebuilt-files-dir", filepath.Join(mirrorDir, "regions"), mp}, "lie inside one another"},
		{"rebuilt files inside the primary", []string{"--primary", primary, "--mirror", mirrorDir, "--rebuilt-files-dir", filepath.Join(primary, "regions"), mp}, "lie inside one another"},
		{"bad exclude glob", []string{"--primary", primary, "--mirror", mirrorDir, "--exclude", "[", mp}, "not a valid glob"},
		{"negative resync interval", []string{"--primary", primary, "--mirror", mirrorDir, "--resync-interval", "-5s", mp}, "--resync-interval -5s is negative"},
		{"bad retention", []string{"--primary", primary, "--mirror", mirrorDir, "--retain-logs", "forever", mp}, "--retain-logs"},
		{"mirror is a dangling symlink", []string{"--primary", primary, "--mirror", dangling, mp}, "which does not exist: create that directory"},
		{"no mount point", []string{"--primary", primary, "--mirror", mirrorDir}, "MOUNTPOINT"},
		{"no primary", []string{"--mirror", mirrorDir, mp}, "--primary"},
		{"empty mount point", []string{"--primary", primary, "--mirror", mirrorDir, ""}, "MOUNTPOINT argument is empty"},
		{"empty primary", []string{"--primary", "", "--mirror", mirrorDir, mp}, "--primary"},
		{"empty mirror", []string{"--primary", primary, "--mirror", "", mp}, "--mirror"},
		{"mirror of another primary", []string{"--primary", primary, "--mirror", foreign, mp}, "belongs to another primary"},
		{"never a mirror, not empty", []string{"--primary", primary, "--mirror", stranger, mp}, "--rebuild-mirror"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := treeSnapshot(t, base)
			r := mirrorctl(t, append([]string{"mount"}, c.args...)...)
			if r.Code != 2 {
				t.Fatalf("mount was not refused with exit status 2 (usage error): %s", r)
			}
			msg := strings.TrimSpace(r.Stderr)
			if !strings.Contains(msg, c.want) || strings.Count(msg, "\n") > 0 {
				t.Fatalf("want a one-line error mentioning %q: %s", c.want, r)
			}
			after := treeSnapshot(t, base)
			sameSnapshot(t, "after a refused mount", before, after)
			if isMountPoint(mp) {
				t.Fatal("a refused mount left a mount behind")
			}
		})
	}

	t.Run("fuse unusable", func(t *testing.T) {
		needTool(t, "unshare")
		// In a private mount namespace /dev/fuse is replaced by /dev/null: opening it "works" but is no FUSE device.
		script := `mount --bind /dev/null /dev/fuse && exec "$@"`
		cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
			bin, "mount", "--primary", primary, "--mirror", mirrorDir, mp)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("mount with an unusable /dev/fuse succeeded: %s", out)
		}
		if !strings.Contains(string(out), "fuse") {
			t.Errorf("the error does not name FUSE: %s", out)
		}
		if _, err := os.Stat(filepath.Join(primary, ".mirrorctl")); err == nil {
			t.Errorf("a refused mount wrote metadata into the primary")
		}
	})

	t.Run("same file system warning", func(t *testing.T) {
		p, q, m := dirs(t)
		mt := startMount(t, p, q, m)
		if !strings.Contains(mt.Output(), "same file system") {
			t.Errorf("no warning that primary and mirror share a file system:\n%s", mt.Output())
		}
		mt.Stop(t)
		disk := newDisk(t, 300<<20)
		m2 := filepath.Join(t.TempDir(), "mnt")
		if err := os.Mkdir(m2, 0o755); err != nil {
			t.Fatal(err)
		}
		mt2 := startMount(t, p, disk.sub(t, "env"), m2)
		if strings.Contains(mt2.Output(), "same file system") {
			t.Errorf("a mirror on a second file system was warned about:\n%s", mt2.Output())
		}
		mt2.Stop(t)
	})
}
