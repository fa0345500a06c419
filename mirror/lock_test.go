package mirror

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
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
	o := StartOptions{Policy: testPolicy(t), Holder: Holder{PID: os.Getpid(), Command: "mount", MountPoint: "/srv/env"}, Serve: true}
	s, err := Start(ctx, pair, o)
	if err != nil {
		t.Fatal(err)
	}
	if !s.FullCompare || s.HadRecord || s.Report.Copied == 0 {
		t.Errorf("first Start: full=%v hadRecord=%v report=%+v; want a full copy of a new mirror", s.FullCompare, s.HadRecord, s.Report)
	}
	rec, ok, err := ReadRecord(target)
	if err != nil || !ok || rec.State != StateServing || rec.Clean || rec.PID != os.Getpid() || rec.MountPoint != "/srv/env" || rec.PrimaryID != s.Identity.ID {
		t.Errorf("record while serving: %+v, %v, %v", rec, ok, err)
	}
	if pair, err = CheckPair(primary, target); err != nil { // the mirror exists now
		t.Fatal(err)
	}
	if _, err := Start(ctx, pair, o); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Errorf("a second Start = %v; want ErrLocked naming pid %d", err, os.Getpid())
	}
	requireClean(t, s.Mirror)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	rec, _, _ = ReadRecord(target)
	if rec.State != StateInSync || !rec.Clean || rec.PID != 0 || rec.MountPoint != "" {
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
