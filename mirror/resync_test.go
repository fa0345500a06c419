package mirror

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mirrorctl/mirrorctl/lock"
	"golang.org/x/sys/unix"
)

// The invariant: a dirty path the primary no longer has is removed on the mirror by the resync, also
// when the mirror is full of that path's partial copy, and also below a dirty directory removed
// first.
func TestResync_RemovesWhatThePrimaryDeletedWhileDegraded(t *testing.T) {
	ctx := context.Background()
	primary := filepath.Join(t.TempDir(), "primary")
	if err := os.Mkdir(primary, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(mountTmpfs(t, "256k"), "env")
	pr, err := CheckPair(primary, target)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(ctx, pr, StartOptions{Policy: testPolicy(t), Holder: lock.Holder{PID: os.Getpid(), Command: "mount"},
		Serve: true, Mirror: Options{OnError: Degrade}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	p := &pair{m: s.Mirror, primary: pr.Primary, target: pr.Mirror}
	mkdir(t, p, "a")
	mkdir(t, p, "a/b")
	createFile(t, p, "kept", "kept\n")

	// The mirror fills up with a/b/big: degraded, with a partial copy holding all of its space.
	f, err := p.m.OpenFile("a/b/big", unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC, 0o644, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 1<<20), 0); err != nil {
		t.Fatalf("write under Degrade: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if p.m.Degraded() == nil {
		t.Fatal("the mirror did not degrade when its disk filled up")
	}
	// The application deletes it, and the directories above it.
	for _, step := range []func() error{
		func() error { return p.m.Unlink("a/b/big") },
		func() error { return p.m.Rmdir("a/b") },
		func() error { return p.m.Rmdir("a") },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	a, err := s.Resync(ctx)
	if err != nil || !a.Whole {
		t.Fatalf("Resync() = %+v, %v; want the mirror whole again", a, err)
	}
	requireGone(t, p.Q("a"))
	requireContent(t, "kept\n", p.Q("kept"))
	requireClean(t, p.m)
}

// Invariant: a handle opened while the mirror was away, whose file was then unlinked, reaches no
// name on either side: writing it after the resync made the mirror whole must not degrade it again
// (SQLite writes its -shm until it closes it, after unlinking it).
func TestResync_HandleOfAnUnlinkedFileKeepsTheMirrorWhole(t *testing.T) {
	p := newPair(t, Options{OnError: Degrade})
	createFile(t, p, "kept", "kept\n")
	if err := p.m.mirrorFailed("test", "kept", errors.New("the mirror's disk was away")); err != nil {
		t.Fatal(err)
	}
	f, err := p.m.OpenFile("scratch", unix.O_RDWR|unix.O_CREAT, 0o644, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := p.m.Unlink("scratch"); err != nil {
		t.Fatal(err)
	}
	if a, err := p.m.Resync(context.Background()); err != nil || !a.Whole {
		t.Fatalf("Resync() = %+v, %v; want the mirror whole", a, err)
	}
	if _, err := f.WriteAt([]byte("still written\n"), 0); err != nil {
		t.Fatal(err)
	}
	if d := p.m.Degraded(); d != nil {
		t.Fatalf("a write to an unlinked file degraded the mirror: %+v", d)
	}
	requireGone(t, p.Q("scratch"))
}
