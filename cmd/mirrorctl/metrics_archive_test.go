package main

import (
	"strings"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/archive"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestMirrorCollector_ArchiveRetention: the prunes' figures of a pusher's status become the archive's
// retention metrics, counters and gauges, and are absent without --archive.
func TestMirrorCollector_ArchiveRetention(t *testing.T) {
	last := time.Unix(1700000000, 500000000)
	st := &archive.PusherStatus{Prunes: 3, LastPrune: last, PrunedSnapshots: 2, PrunedObjects: 17, PrunedBytes: 4096,
		KeptObjects: 9, KeptBytes: 123456, ResumedBytes: 5 << 20, AbortedUploads: 1}
	c := mirrorCollector{snapshot: func() metricsSnapshot { return metricsSnapshot{State: "in_sync", Archive: st} }}
	want := `
# HELP mirrorctl_archive_prunes_total Prunes (retention in the bucket) run after the archive's pushes.
# TYPE mirrorctl_archive_prunes_total counter
mirrorctl_archive_prunes_total 3
# HELP mirrorctl_archive_pruned_snapshots_total Snapshots the archive's prunes dropped.
# TYPE mirrorctl_archive_pruned_snapshots_total counter
mirrorctl_archive_pruned_snapshots_total 2
# HELP mirrorctl_archive_pruned_objects_total Objects (snapshot files, logs, parts, manifests) the archive's prunes deleted.
# TYPE mirrorctl_archive_pruned_objects_total counter
mirrorctl_archive_pruned_objects_total 17
# HELP mirrorctl_archive_pruned_bytes_total Bytes of the objects the archive's prunes deleted (manifests not counted).
# TYPE mirrorctl_archive_pruned_bytes_total counter
mirrorctl_archive_pruned_bytes_total 4096
# HELP mirrorctl_archive_kept_objects Objects the archive held after its last prune (0 before the first).
# TYPE mirrorctl_archive_kept_objects gauge
mirrorctl_archive_kept_objects 9
# HELP mirrorctl_archive_kept_bytes Bytes the archive held after its last prune, manifests included (0 before the first).
# TYPE mirrorctl_archive_kept_bytes gauge
mirrorctl_archive_kept_bytes 123456
# HELP mirrorctl_archive_last_prune_timestamp_seconds When the archive's last prune ended, in seconds since the epoch (0 before the first).
# TYPE mirrorctl_archive_last_prune_timestamp_seconds gauge
mirrorctl_archive_last_prune_timestamp_seconds 1.7000000005e+09
# HELP mirrorctl_archive_resumed_bytes_total Bytes that interrupted uploads had left in the bucket and the archive's pushes did not send again.
# TYPE mirrorctl_archive_resumed_bytes_total counter
mirrorctl_archive_resumed_bytes_total 5.24288e+06
# HELP mirrorctl_archive_aborted_uploads_total Abandoned incomplete multipart uploads the archive's pushes and prunes aborted.
# TYPE mirrorctl_archive_aborted_uploads_total counter
mirrorctl_archive_aborted_uploads_total 1
`
	var names []string
	for _, l := range strings.Split(want, "\n") {
		if f, ok := strings.CutPrefix(l, "# TYPE "); ok {
			names = append(names, strings.Fields(f)[0])
		}
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	none := mirrorCollector{snapshot: func() metricsSnapshot { return metricsSnapshot{State: "in_sync"} }}
	if n := testutil.CollectAndCount(none, names...); n != 0 {
		t.Errorf("without --archive, %d archive retention metrics", n)
	}
}
