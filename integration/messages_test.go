package integration

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMount_WarnsWhenAnExclusionHidesDatabases: `--exclude '*.db'` gives a mirror that says in
// sync and holds no database; the mount says so, in one line, and serves.
func TestMount_WarnsWhenAnExclusionHidesDatabases(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	writeFile(t, filepath.Join(primary, "accounts.db"), "x")
	m := startMount(t, primary, mirrorDir, mp, "--exclude", "*.db")
	var warnings []string
	for _, l := range strings.Split(m.Output(), "\n") {
		if strings.HasPrefix(l, "warning: ") {
			warnings = append(warnings, l)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `--exclude "*.db"`) || !strings.Contains(warnings[0], "accounts.db") {
		t.Fatalf("mount output: want one warning naming the pattern and accounts.db:\n%s", m.Output())
	}
	m.Stop(t)
}

// TestMessages_PathProblemsNameThePathOnceAndTheFix: a file-system error reaches the operator as one
// line that names the path once and what to do, never as "read X: open X: …"; and the refused
// command changes nothing.
func TestMessages_PathProblemsNameThePathOnceAndTheFix(t *testing.T) {
	needFUSE(t) // root: the unreadable case runs a command as another user
	base := t.TempDir()
	for _, d := range []string{base, filepath.Dir(base)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(base, "a-file")
	writeFile(t, file, "not a mirror")
	recDir := filepath.Join(base, "record-is-a-dir")
	if err := os.MkdirAll(filepath.Join(recDir, ".mirrorctl", "mirror.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	private := filepath.Join(base, "private-primary") // root's, mode 0700: unreadable for nobody
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(private, "accounts.db"), "x")
	open := filepath.Join(base, "open-mirror")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	// nobody needs a copy of the binary it may run.
	nbin := filepath.Join(base, "mirrorctl")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nbin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		nobody bool
		args   []string
		path   string
		says   string
	}{
		{"status of a file", false, []string{"status", "--mirror", file}, file, "is not a directory: give the mirror directory"},
		{"a record that is a directory", false, []string{"status", "--mirror", recDir}, filepath.Join(recDir, ".mirrorctl", "mirror.json"), "move it aside"},
		{"a mirror below a file", false, []string{"verify", "--primary", open, "--mirror", filepath.Join(file, "m")}, filepath.Join(file, "m"), "move the file aside"},
		{"sync of an unreadable primary", true, []string{"sync", "--files", "--primary", private, "--mirror", open}, private, "run mirrorctl as root or as the owner"},
		{"status of an unreadable mirror", true, []string{"status", "--mirror", private}, private, "run mirrorctl as root or as the owner"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := treeSnapshot(t, base)
			cmd := exec.Command(nbin, c.args...)
			if c.nobody {
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
			}
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = io.Discard, &stderr
			var ee *exec.ExitError
			if err := cmd.Run(); !errors.As(err, &ee) {
				t.Fatalf("mirrorctl %s: %v, want a refusal: %s", strings.Join(c.args, " "), err, stderr.String())
			}
			msg := strings.TrimSpace(stderr.String())
			if strings.Contains(msg, "\n") || strings.Count(msg, c.path) != 1 || !strings.Contains(msg, c.says) {
				t.Fatalf("mirrorctl %s said %q: want one line naming %s once and %q", strings.Join(c.args, " "), msg, c.path, c.says)
			}
			sameSnapshot(t, base, before, treeSnapshot(t, base))
		})
	}
}
