package mirror

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mirrorctl/mirrorctl/lock"
	"github.com/mirrorctl/mirrorctl/meta"
	"golang.org/x/sys/unix"
)

// Invariant (doc.go): a change reaches the mirror after the primary applied it, before the call returns.
func TestMirror_OpsReachBothSides(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, p *pair) // run through the mirror, so both sides start equal
		op    func(p *pair) error
		check func(t *testing.T, p *pair) // run on each side's path; both must pass
	}{
		{
			name: "mkdir",
			op:   func(p *pair) error { return p.m.Mkdir("d", 0o750, Owner{}) },
			check: func(t *testing.T, p *pair) {
				for _, path := range p.both("d") {
					if st := lstat(t, path); st.Mode != unix.S_IFDIR|0o750 {
						t.Errorf("%s: mode %o; want directory 0750", path, st.Mode)
					}
				}
			},
		},
		{
			name: "mknod fifo",
			op:   func(p *pair) error { return p.m.Mknod("fifo", unix.S_IFIFO|0o640, 0, Owner{}) },
			check: func(t *testing.T, p *pair) {
				for _, path := range p.both("fifo") {
					if st := lstat(t, path); st.Mode != unix.S_IFIFO|0o640 {
						t.Errorf("%s: mode %o; want fifo 0640", path, st.Mode)
					}
				}
			},
		},
		{
			name: "symlink",
			op:   func(p *pair) error { return p.m.Symlink("../somewhere else", "link", Owner{}) },
			check: func(t *testing.T, p *pair) {
				for _, path := range p.both("link") {
					if got, err := os.Readlink(path); err != nil || got != "../somewhere else" {
						t.Errorf("%s: readlink = %q, %v", path, got, err)
					}
				}
			},
		},
		{
			name:  "unlink",
			setup: func(t *testing.T, p *pair) { createFile(t, p, "f", "data") },
			op:    func(p *pair) error { return p.m.Unlink("f") },
			check: func(t *testing.T, p *pair) { requireGone(t, p.both("f")...) },
		},
		{
			name:  "rmdir",
			setup: func(t *testing.T, p *pair) { mkdir(t, p, "d") },
			op:    func(p *pair) error { return p.m.Rmdir("d") },
			check: func(t *testing.T, p *pair) { requireGone(t, p.both("d")...) },
		},
		{
			name: "rename over an existing file",
			setup: func(t *testing.T, p *pair) {
				createFile(t, p, "a", "new")
				createFile(t, p, "b", "old")
			},
			op: func(p *pair) error { return p.m.Rename("a", "b", 0) },
			check: func(t *testing.T, p *pair) {
				requireGone(t, p.both("a")...)
				requireContent(t, "new", p.both("b")...)
			},
		},
		{
			name: "rename a directory",
			setup: func(t *testing.T, p *pair) {
				mkdir(t, p, "d")
				createFile(t, p, "d/f", "inner")
			},
			op: func(p *pair) error { return p.m.Rename("d", "e", 0) },
			check: func(t *testing.T, p *pair) {
				requireGone(t, p.both("d")...)
				requireContent(t, "inner", p.both("e/f")...)
			},
		},
		{
			name:  "rename noreplace onto a free name",
			setup: func(t *testing.T, p *pair) { createFile(t, p, "a", "A") },
			op:    func(p *pair) error { return p.m.Rename("a", "b", unix.RENAME_NOREPLACE) },
			check: func(t *testing.T, p *pair) {
				requireGone(t, p.both("a")...)
				requireContent(t, "A", p.both("b")...)
			},
		},
		{
			name: "rename exchange",
			setup: func(t *testing.T, p *pair) {
				createFile(t, p, "a", "A")
				mkdir(t, p, "b")
			},
			op: func(p *pair) error { return p.m.Rename("a", "b", unix.RENAME_EXCHANGE) },
			check: func(t *testing.T, p *pair) {
				requireContent(t, "A", p.both("b")...)
				for _, path := range p.both("a") {
					if st := lstat(t, path); st.Mode&unix.S_IFMT != unix.S_IFDIR {
						t.Errorf("%s: not a directory after the exchange", path)
					}
				}
			},
		},
		{
			name: "rename mirrored to excluded drops the mirror's copy",
			setup: func(t *testing.T, p *pair) {
				createFile(t, p, "keep.db", "db")
			},
			op: func(p *pair) error { return p.m.Rename("keep.db", "keep.excl", 0) },
			check: func(t *testing.T, p *pair) {
				requireGone(t, p.both("keep.db")...)
				requireContent(t, "db", p.P("keep.excl"))
				requireGone(t, p.Q("keep.excl"))
			},
		},
		{
			name: "rename a mirrored directory into an excluded place",
			setup: func(t *testing.T, p *pair) {
				mkdir(t, p, "scratch")
				mkdir(t, p, "d")
				createFile(t, p, "d/f", "x")
			},
			op: func(p *pair) error { return p.m.Rename("d", "scratch/d", 0) },
			check: func(t *testing.T, p *pair) {
				requireGone(t, p.both("d")...)
				requireContent(t, "x", p.P("scratch/d/f"))
				requireGone(t, p.Q("scratch/d"))
			},
		},
		{
			name: "rename excluded to mirrored copies the file",
			setup: func(t *testing.T, p *pair) {
				createFile(t, p, "tmp.excl", "fresh content")
				createFile(t, p, "data.db", "stale")
			},
			op: func(p *pair) error { return p.m.Rename("tmp.excl", "data.db", 0) },
			check: func(t *testing.T, p *pair) {
				requireGone(t, p.both("tmp.excl")...)
				requireContent(t, "fresh content", p.both("data.db")...)
			},
		},
		{
			name: "rename exchange across the policy refreshes both names",
			setup: func(t *testing.T, p *pair) {
				createFile(t, p, "tmp.excl", "was excluded")
				createFile(t, p, "data.db", "was mirrored")
			},
			op: func(p *pair) error { return p.m.Rename("tmp.excl", "data.db", unix.RENAME_EXCHANGE) },
			check: func(t *testing.T, p *pair) {
				requireContent(t, "was excluded", p.both("data.db")...)
				requireContent(t, "was mirrored", p.P("tmp.excl"))
				requireGone(t, p.Q("tmp.excl"))
			},
		},
		{
			name: "rename exchange of two files",
			setup: func(t *testing.T, p *pair) {
				writeFile(t, p.P("a"), []byte("A"))
				writeFile(t, p.Q("a"), []byte("A"))
				createFile(t, p, "b", "B")
			},
			op: func(p *pair) error { return p.m.Rename("a", "b", unix.RENAME_EXCHANGE) },
			check: func(t *testing.T, p *pair) {
				requireContent(t, "A", p.both("b")...)
				requireContent(t, "B", p.both("a")...)
			},
		},
		{
			name:  "rename excluded to a new mirrored name copies the file",
			setup: func(t *testing.T, p *pair) { createFile(t, p, "new.excl", "scratch") },
			op:    func(p *pair) error { return p.m.Rename("new.excl", "new.db", 0) },
			check: func(t *testing.T, p *pair) {
				requireGone(t, p.both("new.excl")...)
				requireContent(t, "scratch", p.both("new.db")...)
			},
		},
		{
			name: "a file's life: hole, truncate, fsync, links, rename, setattr through a link, xattr",
			op: func(p *pair) error {
				if err := p.m.Mkdir("d", 0o750, Owner{}); err != nil {
					return err
				}
				f, err := p.m.OpenFile("d/f", unix.O_CREAT|unix.O_RDWR|unix.O_TRUNC, 0o640, Owner{})
				if err != nil {
					return err
				}
				_, err = f.WriteAt([]byte("hello world"), 0)
				return errors.Join(err, // each step runs, in this order
					f.Allocate(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, 5),
					f.Truncate(8),
					f.Sync(true),
					f.Close(),
					p.m.Symlink("f", "d/s", Owner{}),
					p.m.Link("d/f", "d/hard"),
					p.m.Rename("d/hard", "d/moved", 0),
					p.m.Setattr("d/moved", SetAttr{Size: ptr(int64(4)), Mode: ptr(uint32(0o600))}),
					p.m.Setxattr("d/f", "user.k", []byte("v"), 0),
					p.m.Mkdir("gone", 0o755, Owner{}),
					p.m.Rmdir("gone"),
					p.m.Unlink("d/s"))
			},
			check: func(t *testing.T, p *pair) {
				requireContent(t, "\x00\x00\x00\x00", p.both("d/f")...)
				for _, path := range p.both("d/f") {
					v := make([]byte, 8)
					if n, err := unix.Getxattr(path, "user.k", v); err != nil || string(v[:n]) != "v" {
						t.Errorf("%s: xattr user.k = %q, %v", path, v[:max(n, 0)], err)
					}
				}
			},
		},
		{
			name:  "link",
			setup: func(t *testing.T, p *pair) { createFile(t, p, "a", "shared") },
			op:    func(p *pair) error { return p.m.Link("a", "b") },
			check: func(t *testing.T, p *pair) {
				requireOneInode(t, p.P("a"), p.P("b"))
				requireOneInode(t, p.Q("a"), p.Q("b"))
			},
		},
		{
			name:  "setattr mode, size and times",
			setup: func(t *testing.T, p *pair) { createFile(t, p, "f", "0123456789") },
			op: func(p *pair) error {
				return p.m.Setattr("f", SetAttr{Mode: ptr(uint32(0o604)), Size: ptr(int64(4)),
					Atime: &unix.Timespec{Sec: 1_000_000, Nsec: 5}, Mtime: &unix.Timespec{Sec: 2_000_000, Nsec: 7}})
			},
			check: func(t *testing.T, p *pair) {
				for _, path := range p.both("f") { // before reading, which may update the atime
					st := lstat(t, path)
					if st.Mode&07777 != 0o604 || st.Size != 4 || st.Atim != (unix.Timespec{Sec: 1_000_000, Nsec: 5}) || st.Mtim != (unix.Timespec{Sec: 2_000_000, Nsec: 7}) {
						t.Errorf("%s: mode %o size %d atime %v mtime %v", path, st.Mode&07777, st.Size, st.Atim, st.Mtim)
					}
				}
				requireContent(t, "0123", p.both("f")...)
			},
		},
		{
			name:  "setattr grows a file",
			setup: func(t *testing.T, p *pair) { createFile(t, p, "f", "ab") },
			op:    func(p *pair) error { return p.m.Setattr("f", SetAttr{Size: ptr(int64(5))}) },
			check: func(t *testing.T, p *pair) { requireContent(t, "ab\x00\x00\x00", p.both("f")...) },
		},
		{
			name:  "setattr mode of a symlink is ignored",
			setup: func(t *testing.T, p *pair) { createFile(t, p, "f", "x") },
			op: func(p *pair) error {
				if err := p.m.Symlink("f", "l", Owner{}); err != nil {
					return err
				}
				return p.m.Setattr("l", SetAttr{Mode: ptr(uint32(0o600))})
			},
			check: func(t *testing.T, p *pair) {
				for _, path := range p.both("f") {
					if st := lstat(t, path); st.Mode&07777 != 0o644 {
						t.Errorf("%s: the symlink's target changed mode to %o", path, st.Mode&07777)
					}
				}
			},
		},
		{
			name:  "setxattr and removexattr",
			setup: func(t *testing.T, p *pair) { createFile(t, p, "f", "x") },
			op: func(p *pair) error {
				if err := p.m.Setxattr("f", "user.kept", []byte("v1"), 0); err != nil {
					return err
				}
				if err := p.m.Setxattr("f", "user.gone", []byte("v2"), unix.XATTR_CREATE); err != nil {
					return err
				}
				return p.m.Removexattr("f", "user.gone")
			},
			check: func(t *testing.T, p *pair) {
				for _, path := range p.both("f") {
					buf := make([]byte, 16)
					n, err := unix.Lgetxattr(path, "user.kept", buf)
					if err != nil || string(buf[:n]) != "v1" {
						t.Errorf("%s: user.kept = %q, %v", path, buf[:max(n, 0)], err)
					}
					if _, err := unix.Lgetxattr(path, "user.gone", buf); !errors.Is(err, unix.ENODATA) {
						t.Errorf("%s: user.gone still there (%v)", path, err)
					}
				}
			},
		},
		{
			name: "excluded names stay on the primary",
			op: func(p *pair) error {
				if err := p.m.Mkdir("scratch", 0o755, Owner{}); err != nil {
					return err
				}
				if err := p.m.Mkdir("scratch/sub", 0o755, Owner{}); err != nil {
					return err
				}
				return p.m.Symlink("x", "l.excl", Owner{})
			},
			check: func(t *testing.T, p *pair) {
				requireGone(t, p.Q("scratch/sub"), p.Q("l.excl"))
				if !exists(p.P("scratch/sub")) || !exists(p.P("l.excl")) {
					t.Error("the primary lacks the excluded entries")
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, Options{OnError: Fail})
			if c.setup != nil {
				c.setup(t, p)
			}
			if err := c.op(p); err != nil {
				t.Fatalf("op: %v", err)
			}
			c.check(t, p)
			requireClean(t, p.m)
			if d := p.m.Degraded(); d != nil {
				t.Fatalf("mirror degraded: %+v", d)
			}
		})
	}
}

// Invariant (doc.go): a change that the primary refused never reaches the mirror. Each case sets up
// the mirror so that the change would succeed there.
func TestMirror_FailedPrimaryOpLeavesMirrorUntouched(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, p *pair)
		op    func(p *pair) error
		want  unix.Errno
	}{
		{
			name: "rmdir of a directory whose only entry is excluded",
			setup: func(t *testing.T, p *pair) {
				mkdir(t, p, "d")
				writeFile(t, p.P("d/__db.001"), []byte("region"))
			},
			op:   func(p *pair) error { return p.m.Rmdir("d") },
			want: unix.ENOTEMPTY,
		},
		{
			name: "rmdir of a directory with an entry made behind the mirror's back",
			setup: func(t *testing.T, p *pair) {
				mkdir(t, p, "d")
				writeFile(t, p.P("d/x"), nil)
			},
			op:   func(p *pair) error { return p.m.Rmdir("d") },
			want: unix.ENOTEMPTY,
		},
		{
			name:  "unlink of a name the primary lacks",
			setup: func(t *testing.T, p *pair) { writeFile(t, p.Q("f"), []byte("only on the mirror")) },
			op:    func(p *pair) error { return p.m.Unlink("f") },
			want:  unix.ENOENT,
		},
		{
			name:  "mkdir of a name the primary has",
			setup: func(t *testing.T, p *pair) { writeFile(t, p.P("d"), nil) },
			op:    func(p *pair) error { return p.m.Mkdir("d", 0o755, Owner{}) },
			want:  unix.EEXIST,
		},
		{
			name: "rename noreplace onto a name the primary has",
			setup: func(t *testing.T, p *pair) {
				createFile(t, p, "a", "A")
				writeFile(t, p.P("b"), []byte("B"))
			},
			op:   func(p *pair) error { return p.m.Rename("a", "b", unix.RENAME_NOREPLACE) },
			want: unix.EEXIST,
		},
		{
			name: "rename noreplace onto a name both sides have",
			setup: func(t *testing.T, p *pair) {
				createFile(t, p, "a", "A")
				createFile(t, p, "b", "B")
			},
			op:   func(p *pair) error { return p.m.Rename("a", "b", unix.RENAME_NOREPLACE) },
			want: unix.EEXIST,
		},
		{
			name: "rename across the policy refused by the primary",
			setup: func(t *testing.T, p *pair) {
				createFile(t, p, "a", "A")
				writeFile(t, p.P("b.excl"), []byte("B"))
			},
			op:   func(p *pair) error { return p.m.Rename("a", "b.excl", unix.RENAME_NOREPLACE) },
			want: unix.EEXIST,
		},
		{
			name:  "setattr of a file the primary lacks",
			setup: func(t *testing.T, p *pair) { writeFile(t, p.Q("f"), []byte("0123")) },
			op:    func(p *pair) error { return p.m.Setattr("f", SetAttr{Size: ptr(int64(0))}) },
			want:  unix.ENOENT,
		},
		{
			name: "link onto an existing primary name",
			setup: func(t *testing.T, p *pair) {
				createFile(t, p, "a", "A")
				writeFile(t, p.P("b"), []byte("B"))
			},
			op:   func(p *pair) error { return p.m.Link("a", "b") },
			want: unix.EEXIST,
		},
		{
			name:  "open O_EXCL of an existing primary file",
			setup: func(t *testing.T, p *pair) { writeFile(t, p.P("f"), []byte("P")) },
			op: func(p *pair) error {
				_, err := p.m.OpenFile("f", unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_TRUNC, 0o644, Owner{})
				return err
			},
			want: unix.EEXIST,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, Options{OnError: Fail})
			c.setup(t, p)
			before := snapshot(t, p.target)
			err := c.op(p)
			if !isErrno(err, c.want) {
				t.Fatalf("op = %v; want %v", err, c.want)
			}
			var me *MirrorError
			if errors.As(err, &me) {
				t.Fatalf("the primary's refusal came back as a mirror error: %v", err)
			}
			if after := snapshot(t, p.target); after != before {
				t.Fatalf("the mirror changed although the primary refused:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if d := p.m.Degraded(); d != nil {
				t.Fatalf("mirror degraded: %+v", d)
			}
		})
	}
}

// Invariant (doc.go): the metadata area is never reachable through the mirror's operations.
func TestMirror_MetadataAreaRefused(t *testing.T) {
	p := newPair(t, Options{})
	writeFile(t, p.P(meta.Dir+"/identity.json"), []byte("{}"))
	writeFile(t, p.Q(meta.Dir+"/mirror.json"), []byte("{}"))
	createFile(t, p, "f", "x")
	before := snapshot(t, p.primary) + snapshot(t, p.target)
	open := func(rel string, flags int) error {
		f, err := p.m.OpenFile(rel, flags, 0o644, Owner{})
		if err == nil {
			f.Close()
		}
		return err
	}
	for _, rel := range []string{meta.Dir, meta.Dir + "/identity.json", meta.Dir + "/new", meta.Dir + "/sub/new"} {
		ops := map[string]func() error{
			"mkdir":       func() error { return p.m.Mkdir(rel, 0o755, Owner{}) },
			"mknod":       func() error { return p.m.Mknod(rel, unix.S_IFIFO|0o644, 0, Owner{}) },
			"symlink":     func() error { return p.m.Symlink("x", rel, Owner{}) },
			"unlink":      func() error { return p.m.Unlink(rel) },
			"rmdir":       func() error { return p.m.Rmdir(rel) },
			"rename from": func() error { return p.m.Rename(rel, "stolen", 0) },
			"rename to":   func() error { return p.m.Rename("f", rel, 0) },
			"link to":     func() error { return p.m.Link("f", rel) },
			"setattr":     func() error { return p.m.Setattr(rel, SetAttr{Mode: ptr(uint32(0o777))}) },
			"setxattr":    func() error { return p.m.Setxattr(rel, "user.x", []byte("1"), 0) },
			"removexattr": func() error { return p.m.Removexattr(rel, "user.x") },
			"open":        func() error { return open(rel, unix.O_RDONLY) },
			"create":      func() error { return open(rel, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC) },
		}
		for name, op := range ops {
			if err := op(); !errors.Is(err, unix.EPERM) {
				t.Errorf("%s %s = %v; want EPERM", name, rel, err)
			}
		}
	}
	if p.m.Mirrored(meta.Dir) || p.m.Mirrored(meta.Dir+"/x") {
		t.Error("the metadata area counts as mirrored")
	}
	if after := snapshot(t, p.primary) + snapshot(t, p.target); after != before {
		t.Fatalf("a refused operation changed a tree:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestParseErrorPolicy_Table(t *testing.T) {
	cases := []struct {
		in   string
		want ErrorPolicy
		ok   bool
	}{
		{"", Degrade, true},
		{"degrade", Degrade, true},
		{"fail", Fail, true},
		{"Fail", 0, false},
		{"degraded", 0, false},
		{" fail", 0, false},
		{"abort", 0, false},
	}
	for _, c := range cases {
		got, err := ParseErrorPolicy(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseErrorPolicy(%q) = %v, %v; want %v, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

// TestSession_UncleanStopComparesOnlyTheFilesInFlight: after a mount dies, the next start compares
// by metadata, and by content only the files the intent record names; a change that kept size and
// mtime is found in such a file.
func TestSession_UncleanStopComparesOnlyTheFilesInFlight(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	p := filepath.Join(base, "p")
	os.Mkdir(p, 0o755)
	os.WriteFile(filepath.Join(p, "idle"), bytes.Repeat([]byte("i"), 4096), 0o644)
	os.WriteFile(filepath.Join(p, "busy"), bytes.Repeat([]byte("b"), 4096), 0o644)
	pair, _ := CheckPair(p, filepath.Join(base, "q"))
	start := func() *Session {
		pair, _ = CheckPair(p, filepath.Join(base, "q"))
		s, err := Start(ctx, pair, StartOptions{Policy: testPolicy(t), Serve: true, Holder: lock.Holder{PID: os.Getpid(), Command: "mount"}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := start()
	f, err := s.OpenFile("busy", unix.O_RDWR, 0, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := ReadIntent(pair.Mirror); !ok || len(got) != 1 || got[0] != "busy" {
		t.Fatalf("intent record while busy is open: %v %v", got, ok)
	}
	// A write that reached the primary but not the mirror when the mount died, size and mtime kept.
	busy := filepath.Join(p, "busy")
	st, _ := os.Stat(busy)
	w, _ := os.OpenFile(busy, os.O_WRONLY, 0)
	w.WriteAt([]byte("X"), 100)
	w.Close()
	os.Chtimes(busy, st.ModTime(), st.ModTime())
	// The same kind of change to a file that was not open is not looked for (a metadata compare).
	idle := filepath.Join(p, "idle")
	st2, _ := os.Stat(idle)
	w, _ = os.OpenFile(idle, os.O_WRONLY, 0)
	w.WriteAt([]byte("Y"), 100)
	w.Close()
	os.Chtimes(idle, st2.ModTime(), st2.ModTime())
	// The mount dies: no Stop. Release what the process would lose.
	unix.Close(f.P)
	s.Mirror.Drain()
	s.lock.Unlock()
	s.primaryLock.Unlock()

	s2 := start()
	defer s2.Stop()
	if s2.FullCompare || len(s2.Intents) != 1 {
		t.Fatalf("the restart should compare by metadata plus the intent record: full=%v intents=%v", s2.FullCompare, s2.Intents)
	}
	b, _ := os.ReadFile(filepath.Join(pair.Mirror, "busy"))
	if len(b) < 101 || b[100] != 'X' {
		t.Fatal("the file in flight was not compared by content")
	}
	b, _ = os.ReadFile(filepath.Join(pair.Mirror, "idle"))
	if b[100] == 'Y' {
		t.Fatal("a file that was not open was compared by content: the intent record is not what limits the repair")
	}
}

// TestSession_MachineCrashComparesEverything: the intent record lives in the page cache; a record
// written on another boot (a machine crash) is not trusted, and the restart compares by content.
func TestSession_MachineCrashComparesEverything(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	p := filepath.Join(base, "p")
	os.Mkdir(p, 0o755)
	os.WriteFile(filepath.Join(p, "f"), []byte("data"), 0o644)
	pair, _ := CheckPair(p, filepath.Join(base, "q"))
	s, err := Start(ctx, pair, StartOptions{Policy: testPolicy(t), Serve: true, Holder: lock.Holder{PID: os.Getpid(), Command: "mount"}})
	if err != nil {
		t.Fatal(err)
	}
	s.Mirror.Drain()
	s.lock.Unlock()
	s.primaryLock.Unlock()
	rec, _, _ := meta.ReadRecord(pair.Mirror)
	rec.BootID = "another-boot"
	if err := meta.WriteRecord(pair.Mirror, rec); err != nil {
		t.Fatal(err)
	}
	pair, _ = CheckPair(p, filepath.Join(base, "q"))
	s2, err := Start(ctx, pair, StartOptions{Policy: testPolicy(t), Serve: true, Holder: lock.Holder{PID: os.Getpid(), Command: "mount"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Stop()
	if !s2.FullCompare {
		t.Fatal("after a crash on another boot the restart must compare everything by content")
	}
}
