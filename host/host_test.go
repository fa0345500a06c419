package host

import (
	"fmt"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
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

// table is a mount table in which field, as the kernel wrote it, is the mount point of a FUSE mount,
// the first of several mounts (so that a path equal to another one's is found as the FUSE mount).
func table(field string) string {
	return "36 22 0:50 / " + field + " rw,nosuid,nodev,relatime shared:7 - fuse.mirrorctl mirrorctl rw,user_id=0,group_id=0\n" +
		"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n" +
		"37 22 0:51 / /srv/other rw,relatime shared:8 - tmpfs tmpfs rw,size=64k\n"
}

// mountedIn is MountedAt on the given mount table instead of the kernel's.
func mountedIn(tbl, dir string) (bool, string) {
	return first(mountinfo.GetMountsFromReader(strings.NewReader(tbl), mountinfo.SingleEntryFilter(dir)))
}

// MountedAt finds a mount point as the kernel escapes it in the table (octal \NNN for a space, a tab,
// a newline and a backslash), and keeps what is not such an escape as it is.
func TestMountedAt_UndoesTheTablesEscapes(t *testing.T) {
	cases := map[string]string{ // as in the table: the mount point
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
	for field, dir := range cases {
		if ok, fstype := mountedIn(table(field), dir); !ok || fstype != "fuse.mirrorctl" {
			t.Errorf("mount point %q in the table: MountedAt(%q) = %v, %q; want true, fuse.mirrorctl", field, dir, ok, fstype)
		}
		if field != dir {
			if ok, _ := mountedIn(table(field), field); ok {
				t.Errorf("mount point %q in the table: MountedAt(%q), the escaped form, = true; want false", field, field)
			}
		}
	}
	if ok, _ := mountedIn(table("/srv/env"), "/srv"); ok {
		t.Error("MountedAt(/srv) = true for a table with /srv/env only; want false")
	}
}

// FuzzMountedAt: any path, escaped as the kernel does, is found in the table; a line with raw input
// never panics, and a path without escapes or blanks is found as it is.
func FuzzMountedAt(f *testing.F) {
	for _, s := range []string{"/srv/env", "/srv/my env", "a\tb\nc", `back\slash`, `\040`, `\`, `\0`, `\04`, "\x00", "ünï cødé", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ok, fstype := mountedIn(table(escapeMount(s)), s); !ok || fstype != "fuse.mirrorctl" {
			t.Fatalf("MountedAt(%q) with %q in the table = %v, %q; want true, fuse.mirrorctl", s, escapeMount(s), ok, fstype)
		}
		mountedIn(table(s), s) // raw input, as from a hostile line: no panic
		if !strings.ContainsAny(s, "\\ \t\n\r") {
			if ok, _ := mountedIn(table(s), s); !ok {
				t.Fatalf("MountedAt(%q) with the same string in the table = false; want true", s)
			}
		}
	})
}
