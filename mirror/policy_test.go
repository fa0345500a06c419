package mirror

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/meta"
	"golang.org/x/sys/unix"
)

func TestExclusions_Mirrored(t *testing.T) {
	e, err := NewExclusions([]string{"*.tmp", "cache", "scratch/*", "a/b/c"}, func(name string) bool {
		return strings.HasPrefix(name, "__db.")
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]bool{
		"data.db":             true,
		"x.tmp":               false,
		"deep/down/x.tmp":     false,
		"x.tmp.db":            true,
		"cache":               false,
		"cache/file":          false, // below an excluded directory: the mirror has no such directory
		"cache/sub/file":      false,
		"sub/cache":           false,
		"sub/cache/f":         false,
		"cachefile":           true,
		"scratch":             true,
		"scratch/x":           false,
		"scratch/x/y":         false,
		"other/scratch/x":     true,
		"a/b/c":               false,
		"a/b/c/d":             false,
		"a/b":                 true,
		"__db.001":            false,
		"env/__db.register":   false,
		"__db.001/not/really": false,
		meta.Dir:              false,
		meta.Dir + "/lock":    false,
		meta.Dir + "x":        true,
		"sub/" + meta.Dir:     true,
	}
	for rel, want := range cases {
		if got := e.Mirrored(rel); got != want {
			t.Errorf("Mirrored(%q) = %v; want %v", rel, got, want)
		}
	}
}

func TestNewExclusions_RefusesBadGlob(t *testing.T) {
	for _, g := range []string{"[", "a[", `\`, "[]a]"} {
		if _, err := NewExclusions([]string{"ok", g}, nil); err == nil || !strings.Contains(err.Error(), g) {
			t.Errorf("NewExclusions(%q) = %v; want an error naming the glob", g, err)
		}
	}
}

// What lies in an excluded directory is written on the primary only: it must not reach for the mirror,
// where the directory does not exist (with --on-mirror-error=fail the application would get errors for
// files the operator asked not to mirror).
func TestMirror_ExcludedDirectoryContentsStayOnThePrimary(t *testing.T) {
	p := newPair(t, Options{OnError: Fail})
	if err := p.m.Mkdir("scratch", 0o755, Owner{}); err != nil {
		t.Fatal(err)
	}
	if err := p.m.Mkdir("scratch/tmpdir", 0o755, Owner{}); err != nil {
		t.Fatal(err)
	}
	if err := p.m.Mkdir("scratch/tmpdir/sub", 0o755, Owner{}); err != nil {
		t.Fatalf("mkdir below an excluded directory: %v", err)
	}
	f, err := p.m.OpenFile("scratch/tmpdir/sub/f", unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o644, Owner{})
	if err != nil {
		t.Fatalf("create below an excluded directory: %v", err)
	}
	if f.Mirrored() {
		t.Error("a file below an excluded directory is mirrored")
	}
	if _, err := f.WriteAt([]byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(false); err != nil {
		t.Fatalf("fsync below an excluded directory: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.m.Rename("scratch/tmpdir/sub/f", "scratch/tmpdir/sub/g", 0); err != nil {
		var me *MirrorError
		if errors.As(err, &me) {
			t.Fatalf("rename below an excluded directory reached the mirror: %v", err)
		}
		t.Fatal(err)
	}
	if err := p.m.SyncDir("scratch/tmpdir/sub"); err != nil {
		t.Fatalf("fsync of a directory below an excluded directory: %v", err)
	}
	if p.m.Stats().MirrorErrors != 0 {
		t.Errorf("%d mirror errors", p.m.Stats().MirrorErrors)
	}
	requireGone(t, p.Q("scratch/tmpdir"))
	requireClean(t, p.m)
}

func TestParseRetention_Table(t *testing.T) {
	cases := []struct {
		in   string
		want Retention
		ok   bool
	}{
		{"all", Retention{}, true},
		{"", Retention{}, true},
		{"20", Retention{Count: 20}, true},
		{"10GiB", Retention{Size: 10 << 30}, true},
		{"500MB", Retention{Size: 500_000_000}, true},
		{"72h", Retention{Age: 72 * time.Hour}, true},
		{"7d", Retention{Age: 7 * 24 * time.Hour}, true},
		{"0", Retention{}, false},
		{"-3", Retention{}, false},
		{"0d", Retention{}, false},
		{"forever", Retention{}, false},
		{"-1h", Retention{}, false},
	}
	for _, c := range cases {
		got, err := ParseRetention(c.in)
		if (err == nil) != c.ok || c.ok && got != c.want {
			t.Errorf("ParseRetention(%q) = %+v, %v; want %+v ok=%v", c.in, got, err, c.want, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "--retain-logs") {
			t.Errorf("error for %q does not name the flag: %v", c.in, err)
		}
	}
}

func FuzzParseRetention(f *testing.F) {
	for _, s := range []string{"all", "20", "10GiB", "72h", "7d", "9999999999999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRetention(s)
		if err == nil && (r.Count < 0 || r.Size < 0 || r.Age < 0) {
			t.Fatalf("ParseRetention(%q) = %+v: negative", s, r)
		}
	})
}

// Only a glob with a slash lets a directory rename between two mirrored names move an entry between
// mirrored and excluded; a policy that cannot say is taken to depend on paths.
func TestExclusions_DependsOnPath(t *testing.T) {
	cases := []struct {
		globs []string
		want  bool
	}{
		{nil, false},
		{[]string{"*.tmp", "cache"}, false},
		{[]string{"*.tmp", "scratch/*"}, true},
		{[]string{"a/b/c"}, true},
	}
	for _, c := range cases {
		e, err := NewExclusions(c.globs, func(name string) bool { return strings.HasPrefix(name, "__db.") })
		if err != nil {
			t.Fatal(err)
		}
		if got := dependsOnPath(e); got != c.want {
			t.Errorf("globs %q: dependsOnPath = %v; want %v", c.globs, got, c.want)
		}
	}
	if !dependsOnPath(PolicyFunc(func(string) bool { return true })) {
		t.Error("a PolicyFunc, which cannot say, must be taken to depend on paths")
	}
}
