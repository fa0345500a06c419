package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// statMode is the permission bits (with setuid, setgid, sticky) of path.
func statMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky)
}

// TestKillPriv_UnprivilegedChangesClearSetuidOnBothSides: the mount negotiates
// FUSE_HANDLE_KILLPRIV_V2, so the kernel leaves the clearing of setuid and setgid to mirrorctl; a
// write, a truncate and an O_TRUNC open by an unprivileged user must clear them on the primary and
// on the mirror, and a write by root must not.
func TestKillPriv_UnprivilegedChangesClearSetuidOnBothSides(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	m := startMount(t, primary, mirrorDir, mp)
	openToNobody(t, mp)
	cases := []struct {
		name, shell string
		asRoot      bool
		want        os.FileMode
	}{
		{"write", `echo more >> "$1"`, false, 0o777},
		{"truncate", `truncate -s 1 "$1"`, false, 0o777},
		{"open O_TRUNC", `: > "$1"`, false, 0o777},
		{"write by root", `echo more >> "$1"`, true, 0o777 | os.ModeSetuid | os.ModeSetgid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(mp, strings.ReplaceAll(c.name, " ", "_"))
			if err := os.WriteFile(p, []byte("data\n"), 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o777|os.ModeSetuid|os.ModeSetgid); err != nil {
				t.Fatal(err)
			}
			uid := uint32(nobody)
			var out string
			var err error
			if c.asRoot {
				out, err = runAs(0, "sh", "-c", c.shell, "sh", p)
			} else {
				out, err = runAs(uid, "sh", "-c", c.shell, "sh", p)
			}
			if err != nil {
				t.Fatalf("%s: %v\n%s", c.shell, err, out)
			}
			rel := filepath.Base(p)
			for _, side := range []string{mp, primary, mirrorDir} {
				if got := statMode(t, filepath.Join(side, rel)); got != c.want {
					t.Errorf("%s in %s: mode %v; want %v", c.name, side, got, c.want)
				}
			}
		})
	}
	m.Stop(t)
	verifyClean(t, primary, mirrorDir)
}

// TestKillPriv_NoGetxattrPerWrite: with FUSE_HANDLE_KILLPRIV_V2 the kernel stops asking for
// security.capability before every write (a round trip in every commit); at most the first write of
// an inode asks. A database file, whose writes go through the daemon (logs are served by
// passthrough, see TestLogPassthrough).
func TestKillPriv_NoGetxattrPerWrite(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	m := startMount(t, primary, mirrorDir, mp, "--debug")
	f, err := os.OpenFile(filepath.Join(mp, "data.db"), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	const writes = 50
	for i := 0; i < writes; i++ {
		if _, err := fmt.Fprintf(f, "record %d\n", i); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	m.Stop(t)
	out := m.Output()
	nWrites := len(regexp.MustCompile(`rx \d+: WRITE `).FindAllString(out, -1))
	nGetxattr := len(regexp.MustCompile(`rx \d+: GETXATTR .*"security.capability"`).FindAllString(out, -1))
	if nWrites < writes {
		t.Fatalf("the debug log shows %d WRITE requests; want at least %d (is --debug logging requests?)", nWrites, writes)
	}
	if nGetxattr > 1 {
		t.Errorf("%d writes were preceded by %d GETXATTR security.capability requests; want at most 1", nWrites, nGetxattr)
	}
}
