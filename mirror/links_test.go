package mirror

import (
	"fmt"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// link makes newRel a hard link of oldRel through the mirror, for a setup on one side of the policy.
func link(t *testing.T, p *pair, oldRel, newRel string) {
	t.Helper()
	if err := p.m.Link(oldRel, newRel); err != nil {
		t.Fatalf("link %s to %s: %v", oldRel, newRel, err)
	}
}

// Invariant (doc.go): a mirrored inode stays mirrored under every name. A link or rename that would
// give an inode names on both sides of the policy, or move a directory so that what lies below it
// changes sides, is refused with EXDEV, and changes nothing on either side. (testPolicy excludes
// __db.*, *.excl and scratch/*.)
func TestMirror_HardLinkAcrossThePolicyIsRefused(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, p *pair)
		op    func(p *pair) error
	}{
		{
			name:  "link from a mirrored name to an excluded name",
			setup: func(t *testing.T, p *pair) { createFile(t, p, "file", "mirrored") },
			op:    func(p *pair) error { return p.m.Link("file", "__db.999") },
		},
		{
			name:  "link from an excluded name to a mirrored name",
			setup: func(t *testing.T, p *pair) { createFile(t, p, "__db.001", "region") },
			op:    func(p *pair) error { return p.m.Link("__db.001", "file") },
		},
		{
			name:  "link from a mirrored name into an excluded directory",
			setup: func(t *testing.T, p *pair) { createFile(t, p, "file", "mirrored"); mkdir(t, p, "scratch") },
			op:    func(p *pair) error { return p.m.Link("file", "scratch/file") },
		},
		{
			name: "rename of a mirrored name with another link to an excluded name",
			setup: func(t *testing.T, p *pair) {
				createFile(t, p, "file", "mirrored")
				link(t, p, "file", "other")
			},
			op: func(p *pair) error { return p.m.Rename("file", "__db.999", 0) },
		},
		{
			name: "rename of an excluded name with another link to a mirrored name",
			setup: func(t *testing.T, p *pair) {
				createFile(t, p, "a.excl", "scratch")
				link(t, p, "a.excl", "b.excl")
			},
			op: func(p *pair) error { return p.m.Rename("a.excl", "file", 0) },
		},
		{
			name: "rename of a mirrored directory holding a file linked from outside it to an excluded place",
			setup: func(t *testing.T, p *pair) {
				mkdir(t, p, "scratch")
				mkdir(t, p, "d")
				createFile(t, p, "d/f", "inner")
				link(t, p, "d/f", "outside")
			},
			op: func(p *pair) error { return p.m.Rename("d", "scratch/d", 0) },
		},
		{
			name: "rename of a mirrored directory to a name that excludes what lies below it",
			setup: func(t *testing.T, p *pair) {
				mkdir(t, p, "d")
				createFile(t, p, "d/f", "mirrored")
				link(t, p, "d/f", "other")
			},
			op: func(p *pair) error { return p.m.Rename("d", "scratch", 0) },
		},
		{
			name: "rename of a directory of excluded entries to a name that mirrors them",
			setup: func(t *testing.T, p *pair) {
				mkdir(t, p, "scratch")
				createFile(t, p, "scratch/f", "excluded")
			},
			op: func(p *pair) error { return p.m.Rename("scratch", "d", 0) },
		},
		{
			name: "exchange of two mirrored directories that changes the side of what lies below",
			setup: func(t *testing.T, p *pair) {
				mkdir(t, p, "scratch")
				mkdir(t, p, "d")
				createFile(t, p, "d/f", "mirrored")
			},
			op: func(p *pair) error { return p.m.Rename("d", "scratch", unix.RENAME_EXCHANGE) },
		},
		{
			name: "exchange of a mirrored file with another link and an excluded file",
			setup: func(t *testing.T, p *pair) {
				createFile(t, p, "file", "mirrored")
				link(t, p, "file", "other")
				createFile(t, p, "x.excl", "scratch")
			},
			op: func(p *pair) error { return p.m.Rename("file", "x.excl", unix.RENAME_EXCHANGE) },
		},
		{
			name: "exchange of an excluded file with another link and a mirrored file",
			setup: func(t *testing.T, p *pair) {
				createFile(t, p, "file", "mirrored")
				createFile(t, p, "x.excl", "scratch")
				link(t, p, "x.excl", "y.excl")
			},
			op: func(p *pair) error { return p.m.Rename("file", "x.excl", unix.RENAME_EXCHANGE) },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, Options{})
			c.setup(t, p)
			before := snapshot(t, p.primary) + "\n" + snapshot(t, p.target)
			err := c.op(p)
			if !isErrno(err, unix.EXDEV) {
				t.Fatalf("got %v; want EXDEV, so that no file is mirrored under one name and not under another", err)
			}
			if after := snapshot(t, p.primary) + "\n" + snapshot(t, p.target); after != before {
				t.Fatalf("the refusal changed the trees:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if p.m.Degraded() != nil {
				t.Fatalf("a refusal degraded the mirror: %+v", p.m.Degraded())
			}
			requireClean(t, p.m)
		})
	}
}

// Links and renames within one side of the policy, and renames across it of what has no other link,
// keep working: the mirror follows the primary.
func TestMirror_HardLinkWithinOneSideWorks(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, p *pair)
		op    func(p *pair) error
		check func(t *testing.T, p *pair)
	}{
		{
			name:  "link and rename of a linked file among mirrored names",
			setup: func(t *testing.T, p *pair) { createFile(t, p, "a", "shared") },
			op: func(p *pair) error {
				if err := p.m.Link("a", "b"); err != nil {
					return err
				}
				return p.m.Rename("b", "c", 0)
			},
			check: func(t *testing.T, p *pair) {
				requireOneInode(t, p.P("a"), p.P("c"))
				requireOneInode(t, p.Q("a"), p.Q("c"))
			},
		},
		{
			name:  "link and rename of a linked file among excluded names",
			setup: func(t *testing.T, p *pair) { createFile(t, p, "__db.001", "region") },
			op: func(p *pair) error {
				if err := p.m.Link("__db.001", "a.excl"); err != nil {
					return err
				}
				return p.m.Rename("a.excl", "__db.002", 0)
			},
			check: func(t *testing.T, p *pair) {
				requireOneInode(t, p.P("__db.001"), p.P("__db.002"))
				requireGone(t, p.Q("__db.001"), p.Q("__db.002"), p.Q("a.excl"))
			},
		},
		{
			name:  "rename of a mirrored file without other links to an excluded name",
			setup: func(t *testing.T, p *pair) { createFile(t, p, "file", "mirrored") },
			op:    func(p *pair) error { return p.m.Rename("file", "__db.999", 0) },
			check: func(t *testing.T, p *pair) {
				requireGone(t, p.both("file")...)
				requireContent(t, "mirrored", p.P("__db.999"))
				requireGone(t, p.Q("__db.999"))
			},
		},
		{
			name: "rename of a mirrored directory whose links all lie inside it to an excluded place",
			setup: func(t *testing.T, p *pair) {
				mkdir(t, p, "scratch")
				mkdir(t, p, "d")
				mkdir(t, p, "d/sub")
				createFile(t, p, "d/f", "inner")
				link(t, p, "d/f", "d/sub/g")
			},
			op: func(p *pair) error { return p.m.Rename("d", "scratch/d", 0) },
			check: func(t *testing.T, p *pair) {
				requireGone(t, p.both("d")...)
				requireContent(t, "inner", p.P("scratch/d/f"), p.P("scratch/d/sub/g"))
				requireGone(t, p.Q("scratch/d"))
			},
		},
		{
			name: "rename of a mirrored directory whose entries keep their sides",
			setup: func(t *testing.T, p *pair) {
				mkdir(t, p, "d")
				createFile(t, p, "d/f", "inner")
				createFile(t, p, "d/__db.001", "region")
				link(t, p, "d/f", "outside")
			},
			op: func(p *pair) error { return p.m.Rename("d", "e", 0) },
			check: func(t *testing.T, p *pair) {
				requireGone(t, p.both("d")...)
				requireContent(t, "inner", p.both("e/f")...)
				requireContent(t, "region", p.P("e/__db.001"))
				requireGone(t, p.Q("e/__db.001"))
			},
		},
		{
			name: "exchange across the policy of two files without other links",
			setup: func(t *testing.T, p *pair) {
				createFile(t, p, "file", "was mirrored")
				createFile(t, p, "x.excl", "was excluded")
			},
			op: func(p *pair) error { return p.m.Rename("file", "x.excl", unix.RENAME_EXCHANGE) },
			check: func(t *testing.T, p *pair) {
				requireContent(t, "was excluded", p.both("file")...)
				requireContent(t, "was mirrored", p.P("x.excl"))
				requireGone(t, p.Q("x.excl"))
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, Options{OnError: Fail})
			c.setup(t, p)
			if err := c.op(p); err != nil {
				t.Fatal(err)
			}
			c.check(t, p)
			requireClean(t, p.m)
		})
	}
}

// Invariant (doc.go): a mirrored inode stays mirrored under every name, also when links race a rename
// across the policy: the rename holds the namespace lock exclusively from the walk that counts the
// links of what it moves until it is done, so no link lands in between. (Without that lock this test
// fails only now and then: the window is the walk's.)
func TestMirror_LinksRacingARenameAcrossThePolicyKeepTheInodeOnOneSide(t *testing.T) {
	p := newPair(t, Options{OnError: Fail})
	mkdir(t, p, "scratch")
	mkdir(t, p, "d")
	for i := 0; i < 100; i++ { // a long walk: a wide window for a link
		createFile(t, p, fmt.Sprintf("d/f%d", i), "x")
	}
	var seen atomic.Value // the first name found sharing g's inode across the policy
	check := func() {
		var g, st unix.Stat_t
		if unix.Lstat(p.P("g"), &g) != nil || unix.Lstat(p.P("scratch/d/f7"), &st) != nil {
			return
		}
		if st.Ino == g.Ino {
			seen.CompareAndSwap(nil, "scratch/d/f7")
		}
	}
	stop := make(chan struct{})
	linker := make(chan struct{})
	go func() {
		defer close(linker)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if p.m.Link("d/f7", "g") == nil {
				check()
				_ = p.m.Unlink("g")
			}
		}
	}()
	for i := 0; i < 1500 && seen.Load() == nil; i++ {
		if p.m.Rename("d", "scratch/d", 0) == nil {
			check()
		}
		_ = p.m.Rename("scratch/d", "d", 0)
	}
	close(stop)
	<-linker
	if name := seen.Load(); name != nil {
		t.Fatalf("the mirrored name g and the excluded name %s were one inode", name)
	}
}
