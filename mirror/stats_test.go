package mirror

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLatency_Buckets: each fsync duration lands in the smallest bucket whose bound holds it, the
// buckets are cumulative, and the slowest fsyncs are in the count only.
func TestLatency_Buckets(t *testing.T) {
	last := len(FsyncBuckets) - 1
	for _, tc := range []struct {
		name      string
		d         time.Duration
		firstLE   int // the first bucket that counts d; len(FsyncBuckets) when none does
		wantTotal time.Duration
	}{
		{"zero", 0, 0, 0},
		{"below the first bound", 10 * time.Microsecond, 0, 10 * time.Microsecond},
		{"on the first bound", 50 * time.Microsecond, 0, 50 * time.Microsecond},
		{"just above the first bound", 51 * time.Microsecond, 1, 51 * time.Microsecond},
		{"3ms", 3 * time.Millisecond, 6, 3 * time.Millisecond}, // 50µs<<6 = 3.2ms
		{"on the last bound", FsyncBuckets[last], last, FsyncBuckets[last]},
		{"slower than every bound", time.Minute, len(FsyncBuckets), time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l latency
			l.observe(tc.d)
			s := l.snapshot()
			if s.Count != 1 || s.Total != tc.wantTotal || s.Max != tc.d {
				t.Fatalf("count %d total %s max %s, want 1 %s %s", s.Count, s.Total, s.Max, tc.wantTotal, tc.d)
			}
			if len(s.Buckets) != len(FsyncBuckets) {
				t.Fatalf("%d buckets, want %d", len(s.Buckets), len(FsyncBuckets))
			}
			for i, n := range s.Buckets {
				want := int64(0)
				if i >= tc.firstLE {
					want = 1
				}
				if n != want {
					t.Errorf("bucket le=%s holds %d, want %d (all: %v)", FsyncBuckets[i], n, want, s.Buckets)
				}
			}
		})
	}
}

func TestLatency_BoundsDouble(t *testing.T) {
	if FsyncBuckets[0] != 50*time.Microsecond {
		t.Errorf("first bound %s, want 50µs", FsyncBuckets[0])
	}
	for i := 1; i < len(FsyncBuckets); i++ {
		if FsyncBuckets[i] != 2*FsyncBuckets[i-1] {
			t.Errorf("bound %d is %s, want twice %s", i, FsyncBuckets[i], FsyncBuckets[i-1])
		}
	}
}

// TestMirror_StatsCountWritesAndFsyncs: a write and an fsync through a file show in Stats, and no
// bytes stay pending once the write returned.
func TestMirror_StatsCountWritesAndFsyncs(t *testing.T) {
	p := newPair(t, Options{})
	f, err := p.m.OpenFile("f", unix.O_CREAT|unix.O_RDWR, 0o644, Owner{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(make([]byte, 4096), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(false); err != nil {
		t.Fatal(err)
	}
	s := p.m.Stats()
	if s.Writes != 1 || s.BytesMirrored != 4096 || s.Pending != 0 || s.PendingBytes != 0 {
		t.Errorf("after one 4 KiB write: writes %d, bytes %d, pending %d ops %d bytes; want 1, 4096, 0, 0",
			s.Writes, s.BytesMirrored, s.Pending, s.PendingBytes)
	}
	for side, fs := range map[string]SyncStats{"primary": s.PrimaryFsync, "mirror": s.MirrorFsync} {
		if fs.Count < 1 || fs.Total <= 0 {
			t.Errorf("%s fsync: count %d total %s, want at least one fsync", side, fs.Count, fs.Total)
		}
		if top := fs.Buckets[len(fs.Buckets)-1]; top > fs.Count || (fs.Max <= FsyncBuckets[len(FsyncBuckets)-1] && top != fs.Count) {
			t.Errorf("%s fsync: the last bucket holds %d of %d fsyncs (max %s)", side, top, fs.Count, fs.Max)
		}
	}
	if a := p.m.LastResync(); a.Progress != nil {
		t.Errorf("resync progress %+v while no resync runs", *a.Progress)
	}
}
