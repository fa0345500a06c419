package mirror

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/meta"
	"golang.org/x/sys/unix"
)

// mirrorFault is a way to make the mirror really fail, and the operation that then fails on it.
type mirrorFault struct {
	name  string
	errno unix.Errno
	// setup returns the primary and the mirror directory; the mirror works until breakMirror.
	setup func(t *testing.T) (primary, target string)
	// breakMirror damages the mirror (if needed) and runs an operation on rel that must fail there.
	breakMirror func(t *testing.T, p *pair, rel string) error
	rel         string
}

var mirrorFaults = []mirrorFault{
	{
		name:  "mirror directory removed, mkdir",
		errno: unix.ENOENT,
		setup: twoTempDirs,
		rel:   "d",
		breakMirror: func(t *testing.T, p *pair, rel string) error {
			if err := os.RemoveAll(p.target); err != nil {
				t.Fatal(err)
			}
			return p.m.Mkdir(rel, 0o755, Owner{})
		},
	},
	{
		name:  "mirror directory removed, create",
		errno: unix.ENOENT,
		setup: twoTempDirs,
		rel:   "f",
		breakMirror: func(t *testing.T, p *pair, rel string) error {
			if err := os.RemoveAll(p.target); err != nil {
				t.Fatal(err)
			}
			f, err := p.m.OpenFile(rel, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o644, Owner{})
			if err != nil {
				return err
			}
			if f.Mirrored() {
				t.Error("the file is open on a mirror that failed")
			}
			return f.Close()
		},
	},
	{
		// A dead mirror disk fails the intent record first (xfs after a shutdown: EIO).
		name:  "intent record unwritable, create",
		errno: unix.ENOTDIR,
		setup: twoTempDirs,
		rel:   "f",
		breakMirror: func(t *testing.T, p *pair, rel string) error {
			meta := filepath.Join(p.target, meta.Dir)
			if err := os.RemoveAll(meta); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(meta, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := p.m.OpenFile(rel, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o644, Owner{})
			if err != nil {
				return err
			}
			if f == nil {
				t.Fatal("OpenFile returned neither a file nor an error")
			}
			if f.Mirrored() {
				t.Error("the file is open on a mirror that failed")
			}
			if _, err := f.WriteAt([]byte("x"), 0); err != nil {
				t.Errorf("write to a file opened as the mirror failed: %v", err)
			}
			return f.Close()
		},
	},
	{
		name:  "mirror disk full, write",
		errno: unix.ENOSPC,
		setup: func(t *testing.T) (string, string) {
			return filepath.Join(t.TempDir(), "primary"), mountTmpfs(t, "64k")
		},
		rel: "big",
		breakMirror: func(t *testing.T, p *pair, rel string) error {
			f, err := p.m.OpenFile(rel, unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o644, Owner{})
			if err != nil {
				t.Fatalf("create on a tmpfs with room: %v", err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, 256<<10), 0); err != nil {
				return err
			}
			if n := len(readFile(t, p.P(rel))); n != 256<<10 {
				t.Errorf("the primary holds %d bytes; want all %d", n, 256<<10)
			}
			return nil
		},
	},
}

// Under Degrade, a failing mirror never fails the application: the mirror is marked degraded durably
// on the primary side and every path changed from then on is recorded for the resync.
func TestMirror_DegradeKeepsServingAndRecordsDirtyPaths(t *testing.T) {
	for _, c := range mirrorFaults {
		t.Run(c.name, func(t *testing.T) {
			primary, target := c.setup(t)
			p := openPair(t, primary, target, Options{OnError: Degrade})
			start := time.Now().UTC()
			if err := c.breakMirror(t, p, c.rel); err != nil {
				t.Fatalf("operation on a failing mirror under Degrade: %v", err)
			}
			if !exists(p.P(c.rel)) {
				t.Fatalf("the primary lacks %s", c.rel)
			}
			d := p.m.Degraded()
			if d == nil {
				t.Fatal("Degraded() = nil after the mirror failed")
			}
			if d.Since.Before(start) || d.Since.After(time.Now()) {
				t.Errorf("Degraded().Since = %v; want between %v and now", d.Since, start)
			}
			if !strings.Contains(d.Reason, c.rel) || !strings.Contains(d.Reason, c.errno.Error()) {
				t.Errorf("Degraded().Reason = %q; want the path %q and %q", d.Reason, c.rel, c.errno.Error())
			}
			if !slices.Equal(d.Dirty, []string{c.rel}) {
				t.Errorf("Degraded().Dirty = %q; want it to list %q alone", d.Dirty, c.rel)
			}

			// Later changes skip the mirror and are recorded.
			if err := p.m.Mkdir("later", 0o755, Owner{}); err != nil {
				t.Fatalf("mkdir while degraded: %v", err)
			}
			createFile(t, p, "later-file", "x")
			if err := p.m.Rename("later-file", "renamed", 0); err != nil {
				t.Fatalf("rename while degraded: %v", err)
			}
			requireGone(t, p.Q("later"), p.Q("later-file"), p.Q("renamed"))
			d = p.m.Degraded()
			for _, rel := range []string{c.rel, "later", "later-file", "renamed"} {
				if !slices.Contains(d.Dirty, rel) {
					t.Errorf("Degraded().Dirty = %q; want it to list %q", d.Dirty, rel)
				}
			}
			if len(d.Dirty) != 4 {
				t.Errorf("Degraded().Dirty = %q; want the four changed paths only", d.Dirty)
			}
			if !slices.IsSorted(d.Dirty) {
				t.Errorf("Degraded().Dirty = %q is not sorted", d.Dirty)
			}
			if n := p.m.Stats().MirrorErrors; n != 1 {
				t.Errorf("%d mirror errors; want 1: later changes must not try the mirror", n)
			}

			// The marker is durable on the primary side and survives a restart.
			disk, ok, err := meta.ReadDegraded(p.primary)
			if err != nil || !ok {
				t.Fatalf("meta.ReadDegraded(primary) = %v, %v", ok, err)
			}
			if !disk.Since.Equal(d.Since) || disk.Reason != d.Reason || !slices.Equal(disk.Dirty, d.Dirty) {
				t.Errorf("degraded.json = %+v; want %+v", disk, *d)
			}
			if err := os.MkdirAll(p.target, 0o755); err != nil {
				t.Fatal(err)
			}
			again, err := Open(p.primary, p.target, testPolicy(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer again.Close()
			if d2 := again.Degraded(); d2 == nil || !slices.Equal(d2.Dirty, d.Dirty) {
				t.Errorf("after reopening, Degraded() = %+v; want %+v", d2, *d)
			}
		})
	}
}

// Under Fail, the application gets the mirror's error, with the errno inside; nothing is marked.
func TestMirror_FailReturnsTheMirrorError(t *testing.T) {
	for _, c := range mirrorFaults {
		t.Run(c.name, func(t *testing.T) {
			primary, target := c.setup(t)
			p := openPair(t, primary, target, Options{OnError: Fail})
			err := c.breakMirror(t, p, c.rel)
			var me *MirrorError
			if !errors.As(err, &me) {
				t.Fatalf("error = %v (%T); want a *MirrorError", err, err)
			}
			if me.Rel != c.rel || me.Op == "" {
				t.Errorf("MirrorError = %+v; want the path %q and an operation", me, c.rel)
			}
			var errno unix.Errno
			if !errors.As(err, &errno) || errno != c.errno || !errors.Is(err, c.errno) {
				t.Errorf("errno inside %v = %v; want %v", err, errno, c.errno)
			}
			if !strings.Contains(err.Error(), c.rel) {
				t.Errorf("message %q does not name %s", err, c.rel)
			}
			if !exists(p.P(c.rel)) {
				t.Errorf("the primary lacks %s: its half of the change must stand", c.rel)
			}
			if d := p.m.Degraded(); d != nil {
				t.Errorf("Degraded() = %+v under Fail", d)
			}
			if _, ok, _ := meta.ReadDegraded(p.primary); ok {
				t.Error("degraded.json written under Fail")
			}
		})
	}
}

// A file open before the mirror failed keeps working on the primary alone, fsync included.
func TestFile_DegradedMidwayKeepsTheApplicationRunning(t *testing.T) {
	p := newPair(t, Options{OnError: Degrade})
	f, err := p.m.OpenFile("f", unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o644, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("before"), 0); err != nil {
		t.Fatal(err)
	}
	// The mirror breaks: the next change anywhere fails there and degrades it.
	if err := os.RemoveAll(p.target); err != nil {
		t.Fatal(err)
	}
	if err := p.m.Mkdir("d", 0o755, Owner{}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("-after"), 6); err != nil {
		t.Fatalf("write while degraded: %v", err)
	}
	if err := f.Truncate(12); err != nil {
		t.Fatalf("truncate while degraded: %v", err)
	}
	if err := f.Sync(false); err != nil {
		t.Fatalf("fsync while degraded: %v", err)
	}
	if err := p.m.SyncDir("."); err != nil {
		t.Fatalf("directory fsync while degraded: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close while degraded: %v", err)
	}
	requireContent(t, "before-after", p.P("f"))
	if d := p.m.Degraded(); d == nil || !slices.Contains(d.Dirty, "f") || !slices.Contains(d.Dirty, "d") {
		t.Errorf("Degraded() = %+v; want f and d dirty", d)
	}
}
