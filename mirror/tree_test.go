package mirror

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCleanRel_Table(t *testing.T) {
	cases := []struct {
		rel  string
		want string // "" when refused
	}{
		{"", "."},
		{".", "."},
		{"a", "a"},
		{"a/b", "a/b"},
		{"a//b/", "a/b"},
		{"./a", "a"},
		{"a/./b", "a/b"},
		{"a/../b", "b"},
		{"a/..", "."},
		{"..foo", "..foo"},
		{"a/..b", "a/..b"},
		{"...", "..."},
		{"/", ""},
		{"/etc/passwd", ""},
		{"//a", ""},
		{"..", ""},
		{"../", ""},
		{"../x", ""},
		{"a/../..", ""},
		{"a/../../b", ""},
		{"./../a", ""},
		{"a/b/../../../c", ""},
	}
	for _, c := range cases {
		got, err := cleanRel(c.rel)
		if c.want == "" {
			if err == nil || !errors.Is(err, unix.EXDEV) {
				t.Errorf("cleanRel(%q) = %q, %v; want a refusal wrapping EXDEV", c.rel, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("cleanRel(%q) = %q, %v; want %q", c.rel, got, err, c.want)
		}
	}
}

// escapeFixture builds a tree whose symbolic links lead out of it, to a directory that must never
// change: an absolute link, a relative one, and a relative one from a subdirectory.
func escapeFixture(t *testing.T) (*tree, string) {
	t.Helper()
	base := t.TempDir()
	root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
	writeFile(t, filepath.Join(outside, "victim"), []byte("precious"))
	if err := os.Mkdir(filepath.Join(outside, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "inside"), []byte("mine"))
	if err := os.Mkdir(filepath.Join(root, "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"abs":       outside,
		"rel":       "../outside",
		"deep/rel2": "../../outside",
		"absfile":   filepath.Join(outside, "victim"),
		"relfile":   "../outside/victim",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	tr, err := openTree(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.close() })
	return tr, outside
}

// Invariant (doc.go): nothing is ever written outside the two trees; a symbolic link cannot lead out.
func TestTree_SymlinkOutsideIsNeverFollowed(t *testing.T) {
	tr, outside := escapeFixture(t)
	before := snapshot(t, outside)
	ts := []unix.Timespec{{Sec: 1}, {Sec: 1}}
	for _, dir := range []string{"abs", "rel", "deep/rel2"} {
		ops := []struct {
			name string
			run  func() error
		}{
			{"mkdir", func() error { return tr.mkdir(dir+"/new", 0o755) }},
			{"mknod", func() error { return tr.mknod(dir+"/fifo", unix.S_IFIFO|0o644, 0) }},
			{"symlink", func() error { return tr.symlink("x", dir+"/link") }},
			{"unlink", func() error { return tr.unlink(dir + "/victim") }},
			{"rmdir", func() error { return tr.rmdir(dir + "/sub") }},
			{"rename out", func() error { return tr.rename(dir+"/victim", "stolen", 0) }},
			{"rename in", func() error { return tr.rename("inside", dir+"/victim", 0) }},
			{"link out", func() error { return tr.link(dir+"/victim", "stolen") }},
			{"link in", func() error { return tr.link("inside", dir+"/planted") }},
			{"open", func() error {
				fd, err := tr.open(dir+"/victim", unix.O_RDWR|unix.O_TRUNC, 0)
				if err == nil {
					unix.Close(fd)
				}
				return err
			}},
			{"create", func() error {
				fd, err := tr.open(dir+"/planted", unix.O_RDWR|unix.O_CREAT, 0o644)
				if err == nil {
					unix.Close(fd)
				}
				return err
			}},
			{"truncate", func() error { return tr.truncate(dir+"/victim", 0) }},
			{"setxattr", func() error { return tr.setxattr(dir+"/victim", "user.evil", []byte("1"), 0) }},
			{"removexattr", func() error { return tr.removexattr(dir+"/victim", "user.evil") }},
			{"chmod", func() error { return tr.chmod(dir+"/victim", 0o777) }},
			{"lchown", func() error { return tr.lchown(dir+"/victim", 12345, 12345) }},
			{"utimens", func() error { return tr.utimens(dir+"/victim", ts) }},
			{"lstat", func() error { _, err := tr.lstat(dir + "/victim"); return err }},
			{"readlink", func() error { _, err := tr.readlink(dir + "/victim"); return err }},
			{"readDir", func() error { _, err := tr.readDir(dir); return err }},
			{"syncDir", func() error { return tr.syncDir(dir) }},
			{"removeAll", func() error { return tr.removeAll(dir + "/sub") }},
		}
		for _, op := range ops {
			t.Run(dir+"/"+op.name, func(t *testing.T) {
				if err := op.run(); err == nil {
					t.Errorf("%s through symlink %s succeeded; want an error", op.name, dir)
				}
				if after := snapshot(t, outside); after != before {
					t.Fatalf("%s through symlink %s changed the outside:\nbefore:\n%s\nafter:\n%s", op.name, dir, before, after)
				}
			})
		}
	}
}

// A symbolic link named as the last component is acted on itself, never on what it points at.
func TestTree_SymlinkAsLastNameStaysALink(t *testing.T) {
	tr, outside := escapeFixture(t)
	before := snapshot(t, outside)
	for _, link := range []string{"absfile", "relfile", "abs", "rel"} {
		ops := []struct {
			name    string
			run     func() error
			mustErr bool
		}{
			{"open", func() error {
				fd, err := tr.open(link, unix.O_RDWR, 0)
				if err == nil {
					unix.Close(fd)
				}
				return err
			}, true},
			{"open trunc", func() error {
				fd, err := tr.open(link, unix.O_WRONLY|unix.O_TRUNC|unix.O_NOFOLLOW, 0)
				if err == nil {
					unix.Close(fd)
				}
				return err
			}, true},
			{"create", func() error {
				fd, err := tr.open(link, unix.O_RDWR|unix.O_CREAT, 0o644)
				if err == nil {
					unix.Close(fd)
				}
				return err
			}, true},
			{"truncate", func() error { return tr.truncate(link, 0) }, true},
			{"mkdir", func() error { return tr.mkdir(link, 0o755) }, true},
			{"chmod", func() error { return tr.chmod(link, 0o777) }, false},
			{"lchown", func() error { return tr.lchown(link, 12345, 12345) }, false},
			{"utimens", func() error { return tr.utimens(link, []unix.Timespec{{Sec: 1}, {Sec: 1}}) }, false},
			{"setxattr", func() error { return tr.setxattr(link, "user.evil", []byte("1"), 0) }, false},
		}
		for _, op := range ops {
			t.Run(link+"/"+op.name, func(t *testing.T) {
				err := op.run()
				if op.mustErr && err == nil {
					t.Errorf("%s of symlink %s succeeded; want an error", op.name, link)
				}
				if after := snapshot(t, outside); after != before {
					t.Fatalf("%s of symlink %s changed the outside:\nbefore:\n%s\nafter:\n%s", op.name, link, before, after)
				}
			})
		}
	}
	// removeAll and unlink of the link remove the link, not its target.
	for _, link := range []string{"abs", "relfile"} {
		rm := tr.removeAll
		if link == "relfile" {
			rm = tr.unlink
		}
		if err := rm(link); err != nil {
			t.Fatalf("remove symlink %s: %v", link, err)
		}
		if exists(tr.abs(link)) {
			t.Errorf("symlink %s still exists after removal", link)
		}
	}
	if after := snapshot(t, outside); after != before {
		t.Fatalf("removing symlinks changed the outside:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestTree_RefusesPathsLeavingTheTree(t *testing.T) {
	tr, outside := escapeFixture(t)
	before := snapshot(t, outside)
	for _, rel := range []string{"../outside/victim", "/etc/passwd", "deep/../../outside/victim", ".."} {
		if _, err := tr.open(rel, unix.O_RDONLY, 0); !errors.Is(err, unix.EXDEV) {
			t.Errorf("open(%q) = %v; want EXDEV", rel, err)
		}
		if err := tr.unlink(rel); !errors.Is(err, unix.EXDEV) {
			t.Errorf("unlink(%q) = %v; want EXDEV", rel, err)
		}
		if err := tr.chmod(rel, 0o777); !errors.Is(err, unix.EXDEV) {
			t.Errorf("chmod(%q) = %v; want EXDEV", rel, err)
		}
		if _, err := tr.lstat(rel); !errors.Is(err, unix.EXDEV) {
			t.Errorf("lstat(%q) = %v; want EXDEV", rel, err)
		}
	}
	if err := tr.rmdir("."); err == nil {
		t.Error("rmdir of the root succeeded")
	}
	if after := snapshot(t, outside); after != before {
		t.Fatalf("the outside changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// hostileNames are names a database or an operator might use that break naive quoting or parsing.
var hostileNames = []string{
	"with space",
	" leading and trailing ",
	"new\nline",
	"tab\there",
	"ünïcødé-日本語",
	"ünïcödé",
	"-dash",
	"back\\slash",
	"quote\"s'",
	"quote'\"",
	"..dots",
	"...",
	"%s%n",
	"\x01ctl\x7f",
	"\xff\xfe-not-utf8",
}

func TestTree_HostileNames(t *testing.T) {
	tr, err := openTree(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	for _, name := range hostileNames {
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
}

func TestMirror_HostileNames(t *testing.T) {
	p := newPair(t, Options{})
	for i, name := range hostileNames {
		dir := name + ".d"
		if err := p.m.Mkdir(dir, 0o755, Owner{}); err != nil {
			t.Fatalf("Mkdir(%q): %v", dir, err)
		}
		f, err := p.m.OpenFile(dir+"/"+name, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o644, Owner{})
		if err != nil {
			t.Fatalf("OpenFile(%q): %v", name, err)
		}
		if _, err := f.WriteAt([]byte(name), int64(i)); err != nil {
			t.Fatalf("WriteAt(%q): %v", name, err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if err := p.m.Symlink(name, dir+"/link "+name, Owner{}); err != nil {
			t.Fatalf("Symlink(%q): %v", name, err)
		}
		if err := p.m.Rename(dir+"/"+name, dir+"/renamed "+name, 0); err != nil {
			t.Fatalf("Rename(%q): %v", name, err)
		}
		if err := p.m.Setxattr(dir+"/renamed "+name, "user."+name, []byte(name), 0); err != nil && !errors.Is(err, unix.ENOTSUP) {
			t.Fatalf("Setxattr(%q): %v", name, err)
		}
		sameBytes(t, p.P(dir+"/renamed "+name), p.Q(dir+"/renamed "+name))
	}
	requireClean(t, p.m)
	// A sync of a fresh mirror carries the same names.
	q := openPair(t, p.primary, filepath.Join(t.TempDir(), "second"), Options{})
	r := mustSync(t, q.m, SyncOptions{})
	if r.Copied != 3*len(hostileNames) {
		t.Errorf("sync copied %d entries; want %d", r.Copied, 3*len(hostileNames))
	}
	requireClean(t, q.m)
}

// A symlink swapped in for a file between chmod's check and its change must not be followed: the
// application can rename entries on the primary while a chmod of the same name is under way, and
// mirrorctl runs as root.
func TestTree_ChmodNeverFollowsASwappedSymlink(t *testing.T) {
	tr, outside := escapeFixture(t)
	victim := filepath.Join(outside, "victim")
	if err := os.Chmod(victim, 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, tr.abs("x"), nil)
	if err := os.Symlink(victim, tr.abs("y")); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := unix.Renameat2(unix.AT_FDCWD, tr.abs("x"), unix.AT_FDCWD, tr.abs("y"), unix.RENAME_EXCHANGE); err != nil {
				t.Errorf("exchange: %v", err)
				return
			}
		}
	}()
	defer func() { close(stop); <-done }()
	for i := range 20000 {
		if err := tr.chmod("x", 0o640); err != nil {
			t.Fatalf("chmod: %v", err)
		}
		var st unix.Stat_t
		if err := unix.Stat(victim, &st); err != nil {
			t.Fatal(err)
		}
		if st.Mode&0o777 != 0o600 {
			t.Fatalf("after %d chmods of a name swapped with a symlink, the file outside the tree has mode %o", i+1, st.Mode&0o777)
		}
	}
}

// Like open(2), the mode matters only when creating; openat2 alone would refuse it with EINVAL.
func TestTree_OpenIgnoresModeWithoutCreate(t *testing.T) {
	tr, _ := escapeFixture(t)
	for _, flags := range []int{unix.O_RDONLY, unix.O_RDWR, unix.O_WRONLY | unix.O_TRUNC} {
		fd, err := tr.open("inside", flags|unix.O_NOFOLLOW, 0o644)
		if err != nil {
			t.Errorf("open(inside, %#x, 0644) = %v", flags, err)
			continue
		}
		unix.Close(fd)
	}
	fd, err := tr.open("made", unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if st := lstat(t, tr.abs("made")); st.Mode&0o777 != 0o600 {
		t.Errorf("created with mode %o; want 0600", st.Mode&0o777)
	}
}
