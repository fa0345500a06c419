package mirror

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"

	"github.com/mirrorctl/mirrorctl/meta"
	"golang.org/x/sys/unix"
)

// These fuzz tests hold the exact properties callers rely on. Their seeds run as ordinary tests; go
// test -fuzz explores further, and whatever it finds goes to testdata/fuzz.

// FuzzCleanRelIdempotent: an accepted path is in clean form, stays accepted as it is, and never leaves
// the tree; a refused one wraps EXDEV.
func FuzzCleanRelIdempotent(f *testing.F) {
	for _, s := range []string{"", ".", "a/b", "a//b", "a//b/", "./a", "./.", "a/..", "a/../..", "a/../../b", "..", "../a", "../x", "/", "/abs", "//a", "...", "..a/b", "a/./../b/./c/", ".mirrorctl/../x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := cleanRel(s)
		if err != nil {
			if !errors.Is(err, unix.EXDEV) || c != "" {
				t.Fatalf("cleanRel(%q) = %q, %v; a refusal must be empty and wrap EXDEV", s, c, err)
			}
			return
		}
		if path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") || strings.Contains(c, "/../") || strings.HasSuffix(c, "/..") {
			t.Fatalf("cleanRel(%q) = %q leaves the tree", s, c)
		}
		if path.Clean(c) != c || c == "" {
			t.Fatalf("cleanRel(%q) = %q is not in clean form", s, c)
		}
		if again, err := cleanRel(c); err != nil || again != c {
			t.Fatalf("cleanRel(cleanRel(%q)) = %q, %v; want %q", s, again, err, c)
		}
	})
}

// FuzzExclusionsConsistent: a policy never panics, never mirrors the metadata area however the path is
// spelt, and never mirrors a path whose directory it does not mirror (Sync never descends into one, and
// the mirror has no such directory for a write to land in).
func FuzzExclusionsConsistent(f *testing.F) {
	seeds := [][3]string{
		{"*.tmp", "", "a/b.tmp"},
		{"cache", "scratch/*", "cache/x/y"},
		{"[", "", meta.Dir},
		{"*", "", "a"},
		{"a/*/c", "b", "a/b/c/d"},
		{"", "", "./" + meta.Dir + "/lock"},
		{"", "", "x/../" + meta.Dir},
		{"", "", meta.Dir + "//lock"},
		{"\\", "[]", "a"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, g1, g2, rel string) {
		e, err := NewExclusions([]string{g1, g2}, func(name string) bool { return strings.HasPrefix(name, "__db.") })
		if err != nil {
			if !strings.Contains(err.Error(), "not a valid glob") {
				t.Fatalf("NewExclusions(%q, %q): %v", g1, g2, err)
			}
			return
		}
		got := e.Mirrored(rel)
		if c, err := cleanRel(rel); err == nil && IsMeta(c) && got {
			t.Fatalf("Mirrored(%q) = true, but it names %q in the metadata area", rel, c)
		}
		if got && IsMeta(rel) {
			t.Fatalf("Mirrored(%q) = true for the metadata area", rel)
		}
		if parent := path.Dir(rel); got && parent != rel && !e.Mirrored(parent) {
			t.Fatalf("Mirrored(%q) = true, but its directory %q is not mirrored (globs %q, %q)", rel, parent, g1, g2)
		}
	})
}

// FuzzParseErrorPolicyExact: exactly the documented values parse; any other says what it got.
func FuzzParseErrorPolicyExact(f *testing.F) {
	for _, s := range []string{"", "degrade", "fail", "FAIL", "fail ", "degrade\x00", "ignore"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseErrorPolicy(s)
		want, ok := map[string]ErrorPolicy{"": Degrade, "degrade": Degrade, "fail": Fail}[s]
		if ok != (err == nil) || ok && p != want {
			t.Fatalf("ParseErrorPolicy(%q) = %v, %v", s, p, err)
		}
		if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
			t.Fatalf("ParseErrorPolicy(%q): message %q does not quote the value", s, err)
		}
	})
}

// FuzzMirror_PathsStayInside drives the Mirror's operations with arbitrary relative paths: whatever
// the path, nothing outside the two trees changes, the metadata areas stay as they were, and the
// mirror stays equal to the primary.
func FuzzMirror_PathsStayInside(f *testing.F) {
	for _, s := range []string{"a", "../escape", "/abs", "./" + meta.Dir + "/x", "d/../" + meta.Dir, "link/x", "x/./y", "a\nb", meta.Dir + "x"} {
		f.Add(s, "b")
	}
	f.Fuzz(func(t *testing.T, rel, other string) {
		base := t.TempDir()
		p := openPair(t, base+"/primary", base+"/mirror", Options{OnError: Fail})
		writeFile(t, base+"/outside/victim", []byte("v"))
		writeFile(t, p.P(meta.Dir+"/identity.json"), []byte("{}"))
		writeFile(t, p.Q(meta.Dir+"/mirror.json"), []byte("{}"))
		for _, root := range []string{p.primary, p.target} {
			if err := unix.Symlink("../outside", root+"/link"); err != nil {
				t.Fatal(err)
			}
		}
		before := snapshot(t, base+"/outside") + "\n" + metaSnapshot(t, p.P(meta.Dir)) + "\n" + metaSnapshot(t, p.Q(meta.Dir))
		_ = p.m.Mkdir(rel, 0o755, Owner{})
		if f, err := p.m.OpenFile(rel+"/f", unix.O_RDWR|unix.O_CREAT, 0o644, Owner{}); err == nil {
			f.WriteAt([]byte("x"), 0)
			f.Close()
		}
		_ = p.m.Symlink("t", other, Owner{})
		_ = p.m.Rename(other, rel+"/moved", 0)
		_ = p.m.Link(rel+"/f", other)
		_ = p.m.Setattr(rel+"/f", SetAttr{Mode: ptr(uint32(0o600)), Size: ptr(int64(0))})
		_ = p.m.Setxattr(rel, "user.x", []byte("1"), 0)
		_ = p.m.Unlink(rel + "/f")
		_ = p.m.Rmdir(rel)
		after := snapshot(t, base+"/outside") + "\n" + metaSnapshot(t, p.P(meta.Dir)) + "\n" + metaSnapshot(t, p.Q(meta.Dir))
		if after != before {
			t.Fatalf("operations on %q and %q changed the outside or a metadata area:\nbefore:\n%s\nafter:\n%s", rel, other, before, after)
		}
		if diffs, err := p.m.Verify(context.Background(), VerifyOptions{}); err != nil || len(diffs) > 0 {
			t.Fatalf("operations on %q and %q left the mirror different: %v %v", rel, other, diffs, err)
		}
	})
}
