package lock

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestTryLock_LockedErrorNamesTheHolder(t *testing.T) {
	cases := []struct {
		name   string
		holder Holder
		want   []string
	}{
		{"a mount", Holder{PID: 31337, Command: "mount", MountPoint: "/srv/my env"},
			[]string{"31337", "/srv/my env", "mirrorctl unmount /srv/my env", "running mount"}},
		{"a sync", Holder{PID: 4242, Command: "sync"}, []string{"4242", `"mirrorctl sync"`}},
		{"a promote", Holder{PID: 7, Command: "promote"}, []string{"7", "promote"}},
		{"nobody known", Holder{}, []string{"another mirrorctl process"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			l, err := TryLock(dir, c.holder)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Unlock()
			if h, ok := ReadHolder(dir); !ok || h != c.holder {
				t.Errorf("ReadHolder = %+v, %v; want %+v", h, ok, c.holder)
			}
			l2, err := TryLock(dir, Holder{PID: 1, Command: "sync"})
			if err == nil {
				l2.Unlock()
				t.Fatal("a second TryLock succeeded while the first is held")
			}
			var le *LockedError
			if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
				t.Fatalf("second TryLock = %v (%T); want a *LockedError that is ErrLocked", err, err)
			}
			if le.Holder != c.holder || le.Dir != dir {
				t.Errorf("LockedError = %+v; want holder %+v in %s", le, c.holder, dir)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("message %q does not name the mirror %s", err, dir)
			}
		})
	}
}

// The lock is an flock: it goes with the descriptor, so a process that dies leaves no stale lock.
func TestLock_ReleasedWhenTheDescriptorCloses(t *testing.T) {
	dir := t.TempDir()
	for _, how := range []string{"unlock", "descriptor closed"} {
		l, err := TryLock(dir, Holder{PID: os.Getpid(), Command: "sync"})
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		if how == "unlock" {
			if err := l.Unlock(); err != nil {
				t.Fatal(err)
			}
			if err := l.Unlock(); err != nil {
				t.Fatalf("second Unlock: %v", err)
			}
		} else {
			l.f.Close() // what the kernel does when the holder dies
		}
	}
	l, err := TryLock(dir, Holder{PID: 2, Command: "mount", MountPoint: "/x"})
	if err != nil {
		t.Fatalf("TryLock after the holders went: %v", err)
	}
	defer l.Unlock()
	if h, _ := ReadHolder(dir); h.PID != 2 {
		t.Errorf("ReadHolder = %+v; want the new holder", h)
	}
}

// One primary, one mount: a second TryLockPrimary is refused with the holder, and a mirror lock on
// the same directory is a separate lock.
func TestTryLockPrimary_SecondHolderRefused(t *testing.T) {
	dir := t.TempDir()
	first := Holder{PID: 31337, Command: "mount", MountPoint: "/srv/env"}
	l, err := TryLockPrimary(dir, first)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	for _, h := range []Holder{{PID: 1, Command: "mount", MountPoint: "/srv/other"}, {PID: 2, Command: "sync"}} {
		l2, err := TryLockPrimary(dir, h)
		if err == nil {
			l2.Unlock()
			t.Fatalf("%s: a second TryLockPrimary succeeded while a mount holds the primary", h.Command)
		}
		var le *LockedError
		if !errors.As(err, &le) || !errors.Is(err, ErrLocked) || le.Holder != first || le.Role != "primary" {
			t.Fatalf("second TryLockPrimary = %v (%+v); want a *LockedError naming %+v", err, le, first)
		}
		for _, w := range []string{"primary " + dir, "31337", "/srv/env", "mirrorctl unmount /srv/env"} {
			if !strings.Contains(err.Error(), w) || strings.Contains(err.Error(), "\n") {
				t.Errorf("message %q: want one line with %q", err, w)
			}
		}
	}
	m, err := TryLock(dir, Holder{PID: 3, Command: "sync"})
	if err != nil {
		t.Fatalf("the mirror lock of a directory locked as a primary: %v", err)
	}
	m.Unlock()
}

// Undo leaves the directory as TryLock found it: without a metadata area it had none, with the
// holder it named before.
func TestLock_UndoRestoresTheTree(t *testing.T) {
	t.Run("nothing there before", func(t *testing.T) {
		dir := t.TempDir()
		l, err := TryLockPrimary(dir, Holder{PID: 5, Command: "mount", MountPoint: "/m"})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Undo(); err != nil {
			t.Fatal(err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("Undo left %d entries in %s", len(ents), dir)
		}
	})
	t.Run("a dead holder named before", func(t *testing.T) {
		dir := t.TempDir()
		dead := Holder{PID: 77, Command: "mount", MountPoint: "/dead"}
		l, err := TryLock(dir, dead)
		if err != nil {
			t.Fatal(err)
		}
		l.f.Close() // the holder dies: its name stays
		l, err = TryLock(dir, Holder{PID: 6, Command: "sync"})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Undo(); err != nil {
			t.Fatal(err)
		}
		if h, ok := ReadHolder(dir); !ok || h != dead {
			t.Fatalf("after Undo the lock names %+v (%v); want the dead holder %+v again", h, ok, dead)
		}
	})
}
