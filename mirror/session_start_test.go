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
