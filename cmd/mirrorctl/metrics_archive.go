package main

// The metrics of the archive's retention and of its resumed uploads (--archive): what the prunes
// after the pushes deleted, what the bucket held after the last one, and what interrupted uploads
// left that was not sent again or was aborted. Read from the pusher's status at scrape time.

import (
	"github.com/mirrorctl/mirrorctl/archive"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descArchivePrunes     = newMetricDesc("archive_prunes_total", "Prunes (retention in the bucket) run after the archive's pushes.")
	descArchivePrunedSnap = newMetricDesc("archive_pruned_snapshots_total", "Snapshots the archive's prunes dropped.")
	descArchivePrunedObjs = newMetricDesc("archive_pruned_objects_total", "Objects (snapshot files, logs, parts, manifests) the archive's prunes deleted.")
	descArchivePrunedB    = newMetricDesc("archive_pruned_bytes_total", "Bytes of the objects the archive's prunes deleted (manifests not counted).")
	descArchiveKeptObjs   = newMetricDesc("archive_kept_objects", "Objects the archive held after its last prune (0 before the first).")
	descArchiveKeptB      = newMetricDesc("archive_kept_bytes", "Bytes the archive held after its last prune, manifests included (0 before the first).")
	descArchiveLastPrune  = newMetricDesc("archive_last_prune_timestamp_seconds", "When the archive's last prune ended, in seconds since the epoch (0 before the first).")
	descArchiveResumedB   = newMetricDesc("archive_resumed_bytes_total", "Bytes that interrupted uploads had left in the bucket and the archive's pushes did not send again.")
	descArchiveAborted    = newMetricDesc("archive_aborted_uploads_total", "Abandoned incomplete multipart uploads the archive's pushes and prunes aborted.")
)

// archiveRetentionDescs are the descs collectArchiveRetention fills.
var archiveRetentionDescs = []*prometheus.Desc{
	descArchivePrunes, descArchivePrunedSnap, descArchivePrunedObjs, descArchivePrunedB, descArchiveKeptObjs,
	descArchiveKeptB, descArchiveLastPrune, descArchiveResumedB, descArchiveAborted,
}

// collectArchiveRetention sends the retention and resumption metrics of a pusher's status.
func collectArchiveRetention(ch chan<- prometheus.Metric, a *archive.PusherStatus) {
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	counter(descArchivePrunes, a.Prunes)
	counter(descArchivePrunedSnap, a.PrunedSnapshots)
	counter(descArchivePrunedObjs, a.PrunedObjects)
	counter(descArchivePrunedB, a.PrunedBytes)
	gauge(descArchiveKeptObjs, float64(a.KeptObjects))
	gauge(descArchiveKeptB, float64(a.KeptBytes))
	last := 0.0
	if !a.LastPrune.IsZero() {
		last = float64(a.LastPrune.UnixNano()) / 1e9
	}
	gauge(descArchiveLastPrune, last)
	counter(descArchiveResumedB, a.ResumedBytes)
	counter(descArchiveAborted, a.AbortedUploads)
}
