package mirror

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/lock"
	"github.com/mirrorctl/mirrorctl/meta"
)

// TestRecord_ConcurrentWritersLoseNoChange checks the invariant of record.go (one owner of the
// record): the log sealer, a resync recording the mirror as served and a session's stop all change
// the record at once, and the record on disk holds every change: each sealed log, the resync's last
// sync time, and the stop's clearing of the mount point.
func TestRecord_ConcurrentWritersLoseNoChange(t *testing.T) {
	const logs, resyncs = 40, 20
	base := t.TempDir()
	primary, target := filepath.Join(base, "primary"), filepath.Join(base, "mirror")
	populate(t, primary)
	pair, err := CheckPair(primary, target)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(context.Background(), pair, StartOptions{Policy: testPolicy(t), Serve: true,
		Holder: lock.Holder{PID: os.Getpid(), Command: "mount", MountPoint: "/srv/env"}, Mirror: Options{Logs: testLogs}})
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= logs+1; n++ {
		writeFile(t, filepath.Join(target, testLogName(n)), []byte(strings.Repeat("l", 4096*n)))
	}

	var wg sync.WaitGroup
	var lastResync time.Time       // when the last recordServing began
	quarter := make(chan struct{}) // closed once a quarter of the logs are queued for sealing
	wg.Add(3)
	go func() { // the engine rotates its logs: each new one seals the one before
		defer wg.Done()
		for n := 2; n <= logs+1; n++ {
			s.Mirror.logCreated(testLogName(n), uint32(n))
			if n == 1+logs/4 {
				close(quarter)
			}
		}
	}()
	go func() { // resyncs finish and record the mirror as served
		defer wg.Done()
		for i := 0; i < resyncs; i++ {
			lastResync = time.Now().UTC()
			if err := s.Mirror.recordServing(); err != nil {
				t.Error(err)
			}
		}
	}()
	go func() { // the mount stops once some logs are queued: it drains them, then records the stop
		defer wg.Done()
		<-quarter
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
	}()
	wg.Wait()

	rec, ok, err := meta.ReadRecord(target)
	if err != nil || !ok {
		t.Fatalf("record after the writers: %v, %v", ok, err)
	}
	sealed := s.Mirror.Sealed()
	if len(sealed) < logs/4 {
		t.Fatalf("only %d logs were sealed; the test needs at least %d", len(sealed), logs/4)
	}
	for rel, sum := range sealed {
		if rec.Sealed[rel] != sum {
			t.Errorf("the seal of %s is lost from the record: on disk %q, sealed %q", rel, rec.Sealed[rel], sum)
		}
	}
	if rec.LastSync.Before(lastResync) {
		t.Errorf("the last resync's record is lost: last sync %v, the resync began at %v", rec.LastSync, lastResync)
	}
	if rec.MountPoint != "" {
		t.Errorf("the stop's record is lost: mount point %q, want none", rec.MountPoint)
	}
}

// TestRecord_FailedWriteKeepsTheDurableRecord: when the record cannot be written, the keeper goes on
// from the last record on disk, and the next write that succeeds holds every change made since.
func TestRecord_FailedWriteKeepsTheDurableRecord(t *testing.T) {
	dir := t.TempDir()
	k := keepRecord(dir)
	if err := k.Update(func(r *meta.Record) { r.PrimaryPath = "/p" }); err != nil {
		t.Fatal(err)
	}
	md := filepath.Join(dir, meta.Dir)
	if err := os.Chmod(md, 0o500); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// root writes through the mode: break the write by putting a directory where its temporary file goes
		os.Chmod(md, 0o700)
		if err := os.Mkdir(filepath.Join(md, meta.RecordFile+".tmp"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.Update(func(r *meta.Record) { r.MountPoint = "/lost" }); err == nil {
		t.Fatal("an Update whose write fails reported success")
	}
	if cur, _, _ := k.Current(); cur.MountPoint != "" || cur.PrimaryPath != "/p" {
		t.Fatalf("after a failed write the keeper holds %+v; want the record on disk", cur)
	}
	os.Chmod(md, 0o700)
	os.Remove(filepath.Join(md, meta.RecordFile+".tmp"))
	if err := k.Update(func(r *meta.Record) { r.State = meta.StateServing }); err != nil {
		t.Fatal(err)
	}
	rec, _, err := meta.ReadRecord(dir)
	if err != nil || rec.PrimaryPath != "/p" || rec.State != meta.StateServing || rec.MountPoint != "" {
		t.Fatalf("record on disk = %+v, %v; want the first and the last change only", rec, err)
	}
}
