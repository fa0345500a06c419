package mirror

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mirrorctl/mirrorctl/internal/testenv"
	"github.com/mirrorctl/mirrorctl/lock"
	"github.com/mirrorctl/mirrorctl/meta"
	"golang.org/x/sys/unix"
)

// Start takes the lock, brings the mirror up to date and records it; Stop records a clean stop, so the
// next Start trusts sizes and times; a second Start while the first runs is refused.
func TestSession_StartStopStart(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	primary, target := filepath.Join(base, "primary"), filepath.Join(base, "mirror")
	populate(t, primary)
	pair, err := CheckPair(primary, target)
	if err != nil {
		t.Fatal(err)
	}
	o := StartOptions{Policy: testPolicy(t), Holder: lock.Holder{PID: os.Getpid(), Command: "mount", MountPoint: "/srv/env"}, Serve: true}
	s, err := Start(ctx, pair, o)
	if err != nil {
		t.Fatal(err)
	}
	if !s.FullCompare || s.HadRecord || s.Report.Copied == 0 {
		t.Errorf("first Start: full=%v hadRecord=%v report=%+v; want a full copy of a new mirror", s.FullCompare, s.HadRecord, s.Report)
	}
	rec, ok, err := meta.ReadRecord(target)
	if err != nil || !ok || rec.State != meta.StateServing || rec.Clean || rec.PID != os.Getpid() || rec.MountPoint != "/srv/env" || rec.PrimaryID != s.Identity.ID {
		t.Errorf("record while serving: %+v, %v, %v", rec, ok, err)
	}
	if pair, err = CheckPair(primary, target); err != nil { // the mirror exists now
		t.Fatal(err)
	}
	if _, err := Start(ctx, pair, o); !errors.Is(err, lock.ErrLocked) || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Errorf("a second Start = %v; want ErrLocked naming pid %d", err, os.Getpid())
	}
	requireClean(t, s.Mirror)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	rec, _, _ = meta.ReadRecord(target)
	if rec.State != meta.StateInSync || !rec.Clean || rec.PID != 0 || rec.MountPoint != "" {
		t.Errorf("record after Stop: %+v", rec)
	}

	o.Serve = false
	s, err = Start(ctx, pair, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if s.FullCompare || !s.HadRecord || s.Report.Copied != 0 || s.Report.BytesCopied != 0 {
		t.Errorf("Start after a clean stop: full=%v report=%+v; want a comparison by metadata that copies nothing", s.FullCompare, s.Report)
	}
}

// One primary, one mount: while a session serves the primary, a Start of the same primary with
// another mirror is refused, naming the holder, and changes nothing in either tree; so is a Start of
// another primary onto the mirror in use. Once the first stops, the second may start.
func TestSession_OnePrimaryOneMount(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	primary, first, second := filepath.Join(base, "primary"), filepath.Join(base, "mirror1"), filepath.Join(base, "mirror2")
	other := filepath.Join(base, "other")
	populate(t, primary)
	populate(t, other)
	start := func(p, m string, o StartOptions) (*Session, error) {
		t.Helper()
		pair, err := CheckPair(p, m)
		if err != nil {
			t.Fatal(err)
		}
		return Start(ctx, pair, o)
	}
	mount := StartOptions{Policy: testPolicy(t), Holder: lock.Holder{PID: os.Getpid(), Command: "mount", MountPoint: "/srv/env"}, Serve: true}
	s, err := start(primary, first, mount)
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, base)
	cases := []struct {
		name, primary, mirror string
		o                     StartOptions
		want                  []string
	}{
		{"the same primary, another mirror", primary, second,
			StartOptions{Policy: testPolicy(t), Holder: lock.Holder{PID: 1, Command: "mount", MountPoint: "/srv/two"}, Serve: true},
			[]string{"primary " + primary, "already served by a running mount", strconv.Itoa(os.Getpid()), "/srv/env", "mirrorctl unmount /srv/env"}},
		{"a sync of the same primary", primary, second,
			StartOptions{Policy: testPolicy(t), Holder: lock.Holder{PID: 2, Command: "sync"}},
			[]string{"primary " + primary, "/srv/env"}},
		{"another primary onto the mirror in use", other, first,
			StartOptions{Policy: testPolicy(t), Holder: lock.Holder{PID: 3, Command: "sync"}, Claim: ClaimOptions{Rebuild: true}},
			[]string{"mirror " + first, "/srv/env"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s2, err := start(c.primary, c.mirror, c.o)
			if err == nil {
				s2.Stop()
				t.Fatal("a second Start was accepted while a mount serves the primary")
			}
			if !errors.Is(err, lock.ErrLocked) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("second Start = %v; want one line that is ErrLocked", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal %q lacks %q", err, w)
				}
			}
			if after := snapshot(t, base); after != before {
				t.Errorf("a refused Start changed the trees:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	s, err = start(primary, second, mount)
	if err != nil {
		t.Fatalf("Start with the second mirror after the first mount stopped: %v", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
}

// deepTree makes under dir a chain of directories whose path is longer than PATH_MAX, with a file of
// size bytes at its end, by descriptors (a path that long cannot be named at once). It returns the
// file's path relative to dir's parent.
func deepTree(t *testing.T, dir string, size int) string {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	rel := filepath.Base(dir)
	name := strings.Repeat("d", 200)
	for depth := 0; depth*201 <= unix.PathMax+201; depth++ {
		if err := unix.Mkdirat(fd, name, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, name, unix.O_DIRECTORY|unix.O_RDONLY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd, rel = next, rel+"/"+name
	}
	defer unix.Close(fd)
	f, err := unix.Openat(fd, "deepest", unix.O_CREAT|unix.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(f)
	if _, err := unix.Write(f, bytes.Repeat([]byte("x"), size)); err != nil {
		t.Fatal(err)
	}
	return rel + "/deepest"
}

// startSync starts a session between primary and target as mirrorctl sync does.
func startSync(t *testing.T, primary, target string) (*Session, error) {
	t.Helper()
	pair, err := CheckPair(primary, target)
	if err != nil {
		t.Fatal(err)
	}
	return Start(context.Background(), pair, StartOptions{Policy: testPolicy(t), Holder: lock.Holder{PID: os.Getpid(), Command: "sync"}})
}

// A tree deeper than PATH_MAX is mirrored like any other: sync reaches its far end by descriptors,
// and the mirror holds the same file there.
func TestSession_TreeDeeperThanPathMaxIsMirrored(t *testing.T) {
	base := t.TempDir()
	primary, target := filepath.Join(base, "primary"), filepath.Join(base, "mirror")
	populate(t, primary)
	deepest := deepTree(t, filepath.Join(primary, "deep"), 5)
	s, err := startSync(t, primary, target)
	if err != nil {
		t.Fatalf("sync of a tree deeper than PATH_MAX: %v", err)
	}
	requireClean(t, s.Mirror)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	q := openTreeT(t, target)
	if st, err := q.lstat(deepest); err != nil || st.Size != 5 {
		t.Fatalf("the mirror's file %d bytes deep: size %d, %v; want 5 bytes", len(deepest), st.Size, err)
	}
	if rec, _, _ := meta.ReadRecord(target); rec.State != meta.StateInSync || rec.SyncFailed != "" {
		t.Errorf("record after a complete sync: state %s, sync_failed %q", rec.State, rec.SyncFailed)
	}
}

// fsImmutableFL is FS_IMMUTABLE_FL of linux/fs.h (chattr +i), which x/sys/unix does not define.
const fsImmutableFL = 0x10

// setImmutable sets or clears the immutable flag (chattr +i) of the directory at fd.
func setImmutable(t *testing.T, fd int, on bool) {
	t.Helper()
	flags, err := unix.IoctlGetInt(fd, unix.FS_IOC_GETFLAGS)
	if err != nil {
		testenv.SkipOrFail(t, "the file system of the test directory has no inode flags: %v", err)
	}
	if on {
		flags |= fsImmutableFL
	} else {
		flags &^= fsImmutableFL
	}
	if err := unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, flags); err != nil {
		testenv.SkipOrFail(t, "cannot set the immutable flag: %v", err)
	}
}

// A sync that fails on a path longer than PATH_MAX (here: the mirror's directory there is
// immutable) says so in one readable line (the path shortened) that says the mirror is incomplete,
// and the mirror's record says the sync failed; the next complete sync clears that.
func TestSession_FailedSyncSaysSoInOneLine(t *testing.T) {
	needRoot(t, "set the immutable flag of a directory")
	base := t.TempDir()
	primary, target := filepath.Join(base, "primary"), filepath.Join(base, "mirror")
	populate(t, primary)
	deepest := deepTree(t, filepath.Join(primary, "deep"), 5)
	sync := func() error {
		t.Helper()
		s, err := startSync(t, primary, target)
		if err != nil {
			return err
		}
		return s.Stop()
	}
	if err := sync(); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	p, q := openTreeT(t, primary), openTreeT(t, target)
	dir := path.Dir(deepest)
	f, err := p.open(dir+"/new", unix.O_CREAT|unix.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(f)
	dfd, err := q.open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	setImmutable(t, dfd, true)
	t.Cleanup(func() { // before the test directory is removed, which the flag would forbid
		setImmutable(t, dfd, false)
		unix.Close(dfd)
	})

	err = sync()
	if err == nil {
		t.Fatal("a sync into an immutable directory succeeded")
	}
	msg := err.Error()
	if !errors.Is(err, unix.EPERM) || len(msg) > 600 || strings.Contains(msg, "\n") {
		t.Fatalf("error (%d characters): %q; want one line of at most 600 that is EPERM", len(msg), msg)
	}
	for _, w := range []string{"…", "mirror " + target + " is incomplete", "syncing", "promote refuses it"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q lacks %q", msg, w)
		}
	}
	rec, _, _ := meta.ReadRecord(target)
	if rec.State != meta.StateSyncing || rec.SyncFailed != msg {
		t.Errorf("record after the failed sync: state %s, sync_failed %q; want syncing and the error", rec.State, rec.SyncFailed)
	}
	setImmutable(t, dfd, false)
	if err := sync(); err != nil {
		t.Fatalf("the sync after the directory became writable: %v", err)
	}
	if rec, _, _ := meta.ReadRecord(target); rec.State != meta.StateInSync || rec.SyncFailed != "" {
		t.Errorf("record after a complete sync: state %s, sync_failed %q", rec.State, rec.SyncFailed)
	}
	if _, err := q.lstat(dir + "/new"); err != nil {
		t.Errorf("the new deep file is not on the mirror: %v", err)
	}
}

func openTreeT(t *testing.T, dir string) *tree {
	t.Helper()
	tr, err := openTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.close() })
	return tr
}

func TestShortenPaths_KeepsShortWordsAndShortensLongPaths(t *testing.T) {
	long := "/" + strings.Repeat("abcdefghij/", 30) + "last.db"
	cases := []struct{ in, want string }{
		{"open /disk1/env/data.db: no such file", "open /disk1/env/data.db: no such file"},
		{"primary " + long + ": file name too long", "primary /abcdefghij/…/last.db (a path of 338 bytes, 31 names): file name too long"},
		{strings.Repeat("x", 300), strings.Repeat("x", 300)}, // not a path
	}
	for _, c := range cases {
		if got := shortenPaths(c.in); got != c.want {
			t.Errorf("shortenPaths(%.60q…) = %q; want %q", c.in, got, c.want)
		}
	}
}
