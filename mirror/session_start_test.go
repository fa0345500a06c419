package mirror

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mirrorctl/mirrorctl/lock"
	"github.com/mirrorctl/mirrorctl/meta"
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
