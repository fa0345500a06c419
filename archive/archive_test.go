package archive

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/engine"
)

func TestParseLocation_Table(t *testing.T) {
	for _, tc := range []struct {
		in             string
		bucket, prefix string
		err            string
	}{
		{in: "s3://bkt", bucket: "bkt"},
		{in: "s3://bkt/", bucket: "bkt"},
		{in: "s3://my.backups-1/env/prod/", bucket: "my.backups-1", prefix: "env/prod"},
		{in: "s3://b/env", err: "is not an S3 bucket name"},
		{in: "s3://Backups/env", err: "is not an S3 bucket name"},
		{in: "s3://-bkt/env", err: "is not an S3 bucket name"},
		{in: "s3://bkt_1/env", err: "is not an S3 bucket name"},
		{in: "s3://", err: "names no bucket"},
		{in: "/disk2/env", err: "not an archive location"},
		{in: "s3://bkt/a//c", err: "empty, . or .."},
		{in: "s3://bkt/a/../c", err: "empty, . or .."},
	} {
		l, err := ParseLocation(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || l.Bucket != tc.bucket || l.Prefix != tc.prefix {
			t.Errorf("%q: %+v, %v", tc.in, l, err)
		}
		// Round trip.
		if back, err := ParseLocation(l.String()); err != nil || back != l {
			t.Errorf("%q: round trip gives %+v, %v", tc.in, back, err)
		}
	}
}

func TestManifestName_RoundTrip(t *testing.T) {
	for _, g := range []uint64{1, 2, 99, 1<<63 + 5} {
		n := formatManifestName(g)
		if back, ok := parseManifestName(n); !ok || back != g {
			t.Errorf("%d: %q parses as %d, %v", g, n, back, ok)
		}
	}
	for _, bad := range []string{"manifests/1.json", "manifests/00000000000000000000.json", "manifests/0000000000000000000x.json", "logs/00000000000000000001.json", "manifests/00000000000000000001.json.tmp"} {
		if _, ok := parseManifestName(bad); ok {
			t.Errorf("%q parses as a manifest name", bad)
		}
	}
}

func TestSnapshotID_RoundTrip(t *testing.T) {
	for _, tm := range []time.Time{time.Date(2026, 12, 3, 14, 5, 6, 7, time.UTC), time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} {
		id := formatSnapshotID(tm)
		if back, ok := parseSnapshotID(id); !ok || !back.Equal(tm) {
			t.Errorf("%s: %q parses as %s, %v", tm, id, back, ok)
		}
	}
	for _, bad := range []string{"", "X", "20261203T140506Z", "20261203T140506.000000007", "20261303T140506.000000007Z"} {
		if _, ok := parseSnapshotID(bad); ok {
			t.Errorf("%q parses as a snapshot ID", bad)
		}
	}
}

func TestLagBytes_Table(t *testing.T) {
	logs := []engine.LogFile{{Number: 3, Size: 100}, {Number: 4, Size: 100}, {Number: 5, Size: 40}}
	for _, tc := range []struct {
		newest uint32
		size   int64
		want   int64
	}{
		{newest: 5, size: 40, want: 0},
		{newest: 5, size: 10, want: 30},
		{newest: 4, size: 100, want: 40},
		{newest: 4, size: 60, want: 80},
		{newest: 0, size: 0, want: 240},
	} {
		if got := lagBytes(logs, tc.newest, tc.size, func(l engine.LogFile) int64 { return l.Size }); got != tc.want {
			t.Errorf("archive at log %d (%d bytes): lag %d, want %d", tc.newest, tc.size, got, tc.want)
		}
	}
}

func TestNeedsSnapshot_Table(t *testing.T) {
	logs := func(first uint32) []engine.LogFile {
		return []engine.LogFile{{Number: first, Size: 100}, {Number: first + 1, Size: 30}}
	}
	withLogs := Manifest{Snapshots: []Snapshot{{ID: "s", LastLog: 1}}, Logs: []Log{
		{Number: 1, Sealed: true, Object: Object{Size: 100}},
		{Number: 2, Sealed: true, Object: Object{Size: 100}},
		{Number: 3, Object: Object{Size: 100}, Covered: 30}}}
	for _, tc := range []struct {
		name  string
		m     Manifest
		first uint32
		every int64
		want  bool
	}{
		{name: "no snapshot yet", m: Manifest{}, first: 1, want: true},
		{name: "logs continue the archive", m: withLogs, first: 2, want: false},
		{name: "next log after the archive's newest", m: withLogs, first: 4, want: false},
		{name: "the mirror dropped a log the archive lacks", m: withLogs, first: 5, want: true},
		{name: "log volume after the snapshot below the limit", m: withLogs, first: 2, every: 131, want: false},
		{name: "log volume after the snapshot at the limit", m: withLogs, first: 2, every: 130, want: true},
	} {
		if got := needsSnapshot(tc.m, logs(tc.first), tc.every); got != tc.want {
			t.Errorf("%s: needsSnapshot = %v", tc.name, got)
		}
	}
}

func TestLastNonZero_Table(t *testing.T) {
	for _, tc := range []struct {
		b    []byte
		want int64
	}{
		{b: nil, want: 0},
		{b: []byte{0, 0}, want: 0},
		{b: []byte{1, 0, 0}, want: 1},
		{b: []byte{0, 1, 2, 0, 3}, want: 5},
	} {
		if got := lastNonZero(tc.b); got != tc.want {
			t.Errorf("lastNonZero(%v) = %d, want %d", tc.b, got, tc.want)
		}
	}
}

// TestFileExtent_ReadsBackwards: the extent of a file with a long zero tail (longer than a read) is
// found, and that of a file of zeros is 0.
func TestFileExtent_ReadsBackwards(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		at   int64 // where the last non-zero byte is, -1 for none
		size int64
	}{
		{name: "tail", at: 1000, size: 300 << 10},
		{name: "end", at: 300<<10 - 1, size: 300 << 10},
		{name: "zeros", at: -1, size: 200 << 10},
		{name: "empty", at: -1, size: 0},
	} {
		b := make([]byte, tc.size)
		if tc.at >= 0 {
			b[tc.at] = 7
		}
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := fileExtent(p)
		if err != nil || got != tc.at+1 {
			t.Errorf("%s: extent %d, %v; want %d", tc.name, got, err, tc.at+1)
		}
	}
}

// TestKeptSnapshots_Table: the newest snapshot is always kept; by count the newest N; by age every
// one that ended within the age and the newest before it (a restore to the cutoff needs it); both
// rules keep what either keeps.
func TestKeptSnapshots_Table(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	var snaps []Snapshot
	for _, h := range []int{10, 8, 6, 4, 2} { // hours before now, oldest first
		snaps = append(snaps, Snapshot{ID: fmt.Sprintf("%dh", h), Done: now.Add(-time.Duration(h) * time.Hour)})
	}
	for _, tc := range []struct {
		name string
		r    Retention
		kept string
	}{
		{name: "none", r: Retention{}, kept: "10h 8h 6h 4h 2h"},
		{name: "count 1", r: Retention{KeepSnapshots: 1}, kept: "2h"},
		{name: "count 3", r: Retention{KeepSnapshots: 3}, kept: "6h 4h 2h"},
		{name: "count above all", r: Retention{KeepSnapshots: 9}, kept: "10h 8h 6h 4h 2h"},
		{name: "age 5h", r: Retention{KeepAge: 5 * time.Hour}, kept: "6h 4h 2h"},
		{name: "age 1h", r: Retention{KeepAge: time.Hour}, kept: "2h"},
		{name: "age 4h exactly", r: Retention{KeepAge: 4 * time.Hour}, kept: "4h 2h"},
		{name: "age and count", r: Retention{KeepAge: time.Hour, KeepSnapshots: 2}, kept: "4h 2h"},
		{name: "count and age", r: Retention{KeepAge: 7 * time.Hour, KeepSnapshots: 1}, kept: "8h 6h 4h 2h"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kept, dropped := keptSnapshots(snaps, tc.r, now)
			var ids []string
			for _, s := range kept {
				ids = append(ids, s.ID)
			}
			if got := strings.Join(ids, " "); got != tc.kept {
				t.Fatalf("kept %q, want %q", got, tc.kept)
			}
			if len(kept)+len(dropped) != len(snaps) {
				t.Fatalf("kept %d and dropped %d of %d", len(kept), len(dropped), len(snaps))
			}
		})
	}
}

// TestRetained_SQLiteWALs: a prune keeps the WALs shipped after the snapshots it keeps, and names
// their parts as live; those of a dropped snapshot go with it.
func TestRetained_SQLiteWALs(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	part := func(key string) WALPart { return WALPart{Part: Part{Object: Object{Key: key}}} }
	m := Manifest{
		Snapshots: []Snapshot{{ID: "a", Done: now.Add(-2 * time.Hour)}, {ID: "b", Done: now.Add(-time.Hour)}},
		WALs: []WAL{
			{Rel: "app.db-wal", Snapshot: "a", Parts: []WALPart{part("wal/a/app.db-wal.part.0")}},
			{Rel: "app.db-wal", Snapshot: "b", Parts: []WALPart{part("wal/b/app.db-wal.part.0"), part("wal/b/app.db-wal.part.1")}},
		},
	}
	got, dropped := retained(m, Retention{KeepSnapshots: 1}, now)
	if len(dropped) != 1 || len(got.WALs) != 1 || got.WALs[0].Snapshot != "b" {
		t.Fatalf("kept WALs %+v, dropped %+v; want the WAL of snapshot b alone", got.WALs, dropped)
	}
	names := got.names()
	for key, want := range map[string]bool{"wal/a/app.db-wal.part.0": false, "wal/b/app.db-wal.part.0": true, "wal/b/app.db-wal.part.1": true} {
		if names[key] != want {
			t.Errorf("%s live = %v, want %v", key, names[key], want)
		}
	}
}
