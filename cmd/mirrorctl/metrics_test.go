package main

import (
	"bytes"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/archive"
	"github.com/mirrorctl/mirrorctl/mirror"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestParseMetricsAddr_Table(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		remote bool
		want   string // the address to listen on; empty when refused
		errHas string // part of the refusal
	}{
		{addr: ":9477", want: "127.0.0.1:9477"},
		{addr: "127.0.0.1:9477", want: "127.0.0.1:9477"},
		{addr: "127.1.2.3:9477", want: "127.1.2.3:9477"},
		{addr: "[::1]:9477", want: "[::1]:9477"},
		{addr: "localhost:9477", want: "localhost:9477"},
		{addr: "[::ffff:127.0.0.1]:9477", want: "[::ffff:127.0.0.1]:9477"},
		{addr: ":0", want: "127.0.0.1:0"},
		{addr: "0.0.0.0:9477", errHas: "not a loopback address"},
		{addr: "[::]:9477", errHas: "not a loopback address"},
		{addr: "192.0.2.7:9477", errHas: "--metrics-allow-remote"},
		{addr: "[fe80::1%eth0]:9477", errHas: "not a loopback address"},
		{addr: "metrics.example.com:9477", errHas: "not a loopback address"},
		{addr: "0.0.0.0:9477", remote: true, want: "0.0.0.0:9477"},
		{addr: "metrics.example.com:9477", remote: true, want: "metrics.example.com:9477"},
		{addr: "9477", errHas: "give a port"},
		{addr: "127.0.0.1", errHas: "give a port"},
		{addr: "[::1", errHas: "not HOST:PORT"},
		{addr: "1:2:3", errHas: "not HOST:PORT"},
		{addr: "127.0.0.1:", errHas: "not a number from 0 to 65535"},
		{addr: "127.0.0.1:http", errHas: "not a number from 0 to 65535"},
		{addr: "127.0.0.1:65536", errHas: "not a number from 0 to 65535"},
		{addr: ":-1", errHas: "not a number from 0 to 65535"},
	} {
		got, err := parseMetricsAddr(tc.addr, tc.remote)
		if tc.errHas == "" {
			if err != nil || got != tc.want {
				t.Errorf("parseMetricsAddr(%q, remote=%v) = %q, %v; want %q", tc.addr, tc.remote, got, err, tc.want)
			}
			continue
		}
		var ee *exitError
		if err == nil || !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("parseMetricsAddr(%q, remote=%v) = %q, %v; want a usage error (exit 2)", tc.addr, tc.remote, got, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.errHas) || strings.Contains(msg, "\n") {
			t.Errorf("parseMetricsAddr(%q): %q; want one line containing %q", tc.addr, msg, tc.errHas)
		}
	}
}

// runMountArgs runs `mirrorctl mount` in-process with the given flags; the mount point does not exist,
// so anything that got past the metrics checks fails later, on something else.
func runMountArgs(t *testing.T, flags ...string) (string, error) {
	t.Helper()
	app := newApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	dir := t.TempDir()
	args := append([]string{"mirrorctl", "mount", "--primary", dir + "/p", "--mirror", dir + "/q"}, flags...)
	err := app.Run(append(args, dir+"/mnt"))
	return out.String(), err
}

// TestMount_MetricsRefusals: a bad --metrics-addr or a port in use stops mount before anything else.
func TestMount_MetricsRefusals(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name   string
		flags  []string
		code   int
		errHas string
	}{
		{"not loopback", []string{"--metrics-addr", "0.0.0.0:9477"}, 2, "not a loopback address"},
		{"no port", []string{"--metrics-addr", "127.0.0.1"}, 2, "give a port"},
		{"remote without an address", []string{"--metrics-allow-remote"}, 2, "needs --metrics-addr"},
		{"port in use", []string{"--metrics-addr", busy.Addr().String()}, 1, "cannot listen on " + busy.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runMountArgs(t, tc.flags...)
			code := 1
			var ee *exitError
			if errors.As(err, &ee) {
				code = ee.code
			}
			if err == nil || code != tc.code || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("mount %v: exit %d, %v; want exit %d and %q\n%s", tc.flags, code, err, tc.code, tc.errHas, out)
			}
		})
	}
}

func TestMirrorCollector_Output(t *testing.T) {
	since := time.Unix(1700000000, 500000000)
	fsync := mirror.SyncStats{Count: 3, Total: 1500 * time.Microsecond, Buckets: make([]int64, len(mirror.FsyncBuckets))}
	for i := range fsync.Buckets {
		switch {
		case i >= 5: // 1.6ms and up
			fsync.Buckets[i] = 3
		case i >= 1: // 100µs and up
			fsync.Buckets[i] = 1
		}
	}
	snap := metricsSnapshot{
		State: "degraded",
		Stats: mirror.Stats{BytesMirrored: 8192, OpsMirrored: 7, Writes: 2, Pending: 1, PendingBytes: 4096,
			MirrorErrors: 1, PrimaryErrors: 0, PrimaryFsync: fsync,
			Logs:        &mirror.LogStats{Sealed: 9, SealedHere: 2, Retained: 4, BytesWritten: 1000},
			PrimaryLost: &mirror.PrimaryLoss{At: since}, Failovers: 1},
		DegradedSince: since,
		DegradedPaths: 5,
		LastResync:    1500 * time.Millisecond,
		Archive:       &archive.PusherStatus{LagSeconds: 2.5, LagBytes: 300, Failing: true, Failures: 4},
		Engine:        "sqlite", SinceCheckpoint: ptrTo(int64(4096)),
	}
	c := mirrorCollector{snapshot: func() metricsSnapshot { return snap }}
	want := `
# HELP mirrorctl_state State of the mirror: 1 for the current state, 0 for the others.
# TYPE mirrorctl_state gauge
mirrorctl_state{state="degraded"} 1
mirrorctl_state{state="in_sync"} 0
mirrorctl_state{state="promoted"} 0
mirrorctl_state{state="stopped"} 0
mirrorctl_state{state="syncing"} 0
# HELP mirrorctl_mirrored_bytes_total Bytes written to the mirror through the mount.
# TYPE mirrorctl_mirrored_bytes_total counter
mirrorctl_mirrored_bytes_total 8192
# HELP mirrorctl_mirrored_operations_total Changes (writes, creates, renames, ...) applied to the mirror through the mount.
# TYPE mirrorctl_mirrored_operations_total counter
mirrorctl_mirrored_operations_total 7
# HELP mirrorctl_writes_total Writes through the mount that the primary accepted.
# TYPE mirrorctl_writes_total counter
mirrorctl_writes_total 2
# HELP mirrorctl_pending_bytes Bytes written to the primary whose mirror half has not finished.
# TYPE mirrorctl_pending_bytes gauge
mirrorctl_pending_bytes 4096
# HELP mirrorctl_log_files_sealed_total Log files sealed on the mirror (fsynced and checksummed once the next log began) by this mount.
# TYPE mirrorctl_log_files_sealed_total counter
mirrorctl_log_files_sealed_total 2
# HELP mirrorctl_log_files_retained Log files kept on the mirror after the primary removed them.
# TYPE mirrorctl_log_files_retained gauge
mirrorctl_log_files_retained 4
# HELP mirrorctl_mirror_errors_total Failures of the mirror side of a change.
# TYPE mirrorctl_mirror_errors_total counter
mirrorctl_mirror_errors_total 1
# HELP mirrorctl_degraded_since_timestamp_seconds When the mirror became degraded, in seconds since the epoch; only present while degraded.
# TYPE mirrorctl_degraded_since_timestamp_seconds gauge
mirrorctl_degraded_since_timestamp_seconds 1.7000000005e+09
# HELP mirrorctl_degraded_paths Paths changed since the mirror degraded, which a resync will copy.
# TYPE mirrorctl_degraded_paths gauge
mirrorctl_degraded_paths 5
# HELP mirrorctl_primary_lost_since_timestamp_seconds When the mount lost its primary and switched to the mirror (--on-primary-error=failover), in seconds since the epoch; only present after a switch, until the mount stops.
# TYPE mirrorctl_primary_lost_since_timestamp_seconds gauge
mirrorctl_primary_lost_since_timestamp_seconds 1.7000000005e+09
# HELP mirrorctl_failovers_total Switches to the mirror after the primary's disk died (--on-primary-error=failover).
# TYPE mirrorctl_failovers_total counter
mirrorctl_failovers_total 1
# HELP mirrorctl_engine_info 1, with the engine of the mirrored files as its label: bdb, sqlite or lmdb.
# TYPE mirrorctl_engine_info gauge
mirrorctl_engine_info{engine="sqlite"} 1
# HELP mirrorctl_log_bytes_since_checkpoint Log bytes on the mirror since the last checkpoint, which a promote would replay now (Berkeley DB: the log since the checkpoint; SQLite: WAL bytes not checkpointed); absent for engines that cannot tell (LMDB), refreshed every 15 s.
# TYPE mirrorctl_log_bytes_since_checkpoint gauge
mirrorctl_log_bytes_since_checkpoint 4096
# HELP mirrorctl_resync_last_duration_seconds How long the last resync took (0 before the first).
# TYPE mirrorctl_resync_last_duration_seconds gauge
mirrorctl_resync_last_duration_seconds 1.5
# HELP mirrorctl_archive_lag_seconds How long ago the archive (--archive) last held the mirror's state; 0 when it lacks nothing.
# TYPE mirrorctl_archive_lag_seconds gauge
mirrorctl_archive_lag_seconds 2.5
# HELP mirrorctl_archive_lag_bytes Log bytes on the mirror that the archive (--archive) lacks.
# TYPE mirrorctl_archive_lag_bytes gauge
mirrorctl_archive_lag_bytes 300
# HELP mirrorctl_archive_failing 1 while the archive's pushes fail (the archive falls behind).
# TYPE mirrorctl_archive_failing gauge
mirrorctl_archive_failing 1
# HELP mirrorctl_archive_push_failures_total Pushes to the archive that failed.
# TYPE mirrorctl_archive_push_failures_total counter
mirrorctl_archive_push_failures_total 4
`
	names := []string{"mirrorctl_archive_lag_seconds", "mirrorctl_archive_lag_bytes", "mirrorctl_archive_failing", "mirrorctl_archive_push_failures_total", "mirrorctl_state", "mirrorctl_mirrored_bytes_total", "mirrorctl_mirrored_operations_total",
		"mirrorctl_writes_total", "mirrorctl_pending_bytes", "mirrorctl_log_files_sealed_total",
		"mirrorctl_log_files_retained", "mirrorctl_mirror_errors_total", "mirrorctl_degraded_since_timestamp_seconds",
		"mirrorctl_degraded_paths", "mirrorctl_resync_last_duration_seconds", "mirrorctl_primary_lost_since_timestamp_seconds", "mirrorctl_failovers_total", "mirrorctl_engine_info", "mirrorctl_log_bytes_since_checkpoint"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}

	// The histogram: the core's cumulative buckets become le buckets in seconds.
	wantHist := `
# HELP mirrorctl_fsync_duration_seconds Duration of fsyncs (files and directories) on each side.
# TYPE mirrorctl_fsync_duration_seconds histogram
` + histogramLines("primary", fsync) + histogramLines("mirror", mirror.SyncStats{})
	if err := testutil.CollectAndCompare(c, strings.NewReader(wantHist), "mirrorctl_fsync_duration_seconds"); err != nil {
		t.Error(err)
	}
	// Every desc once, but the state once per label value and the histogram once per side.
	if n := testutil.CollectAndCount(c); n != len(allMetricDescs)+len(metricStates) {
		t.Errorf("%d metrics collected, want %d", n, len(allMetricDescs)+len(metricStates))
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// histogramLines is the text exposition of one side's fsync histogram.
func histogramLines(side string, fs mirror.SyncStats) string {
	var b strings.Builder
	for i, le := range mirror.FsyncBuckets {
		var n int64
		if i < len(fs.Buckets) {
			n = fs.Buckets[i]
		}
		b.WriteString(`mirrorctl_fsync_duration_seconds_bucket{side="` + side + `",le="` + formatFloat(le.Seconds()) + `"} ` + formatFloat(float64(n)) + "\n")
	}
	b.WriteString(`mirrorctl_fsync_duration_seconds_bucket{side="` + side + `",le="+Inf"} ` + formatFloat(float64(fs.Count)) + "\n")
	b.WriteString(`mirrorctl_fsync_duration_seconds_sum{side="` + side + `"} ` + formatFloat(fs.Total.Seconds()) + "\n")
	b.WriteString(`mirrorctl_fsync_duration_seconds_count{side="` + side + `"} ` + formatFloat(float64(fs.Count)) + "\n")
	return b.String()
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// TestMirrorCollector_States: exactly one state is 1, whichever the snapshot says, and the degraded
// timestamp is only there while degraded.
func TestMirrorCollector_States(t *testing.T) {
	for _, state := range metricStates {
		t.Run(state, func(t *testing.T) {
			snap := metricsSnapshot{State: state}
			if state == "degraded" {
				snap.DegradedSince = time.Now()
			}
			c := mirrorCollector{snapshot: func() metricsSnapshot { return snap }}
			var want strings.Builder
			want.WriteString("# HELP mirrorctl_state State of the mirror: 1 for the current state, 0 for the others.\n# TYPE mirrorctl_state gauge\n")
			for _, s := range []string{"degraded", "in_sync", "promoted", "stopped", "syncing"} { // sorted, as exposed
				v := "0"
				if s == state {
					v = "1"
				}
				want.WriteString(`mirrorctl_state{state="` + s + `"} ` + v + "\n")
			}
			if err := testutil.CollectAndCompare(c, strings.NewReader(want.String()), "mirrorctl_state"); err != nil {
				t.Error(err)
			}
			n := testutil.CollectAndCount(c, "mirrorctl_degraded_since_timestamp_seconds")
			if wantN := map[bool]int{true: 1, false: 0}[state == "degraded"]; n != wantN {
				t.Errorf("%d degraded_since series in state %s, want %d", n, state, wantN)
			}
		})
	}
}

// TestMountView_SyncingBeforeTheSession: until the initial comparison is done the state is syncing,
// with the comparison's progress.
func TestMountView_SyncingBeforeTheSession(t *testing.T) {
	ms := &metricsServer{view: &mountView{}}
	var shown [2]int64
	ms.progress(func(done, total int64) { shown = [2]int64{done, total} })(10, 100)
	s := ms.view.snapshot()
	if s.State != "syncing" || !s.Resync.Running || s.Resync.BytesDone != 10 || s.Resync.BytesTotal != 100 || shown != [2]int64{10, 100} {
		t.Errorf("snapshot during the initial comparison: %+v (shown %v)", s, shown)
	}
	var none *metricsServer // without --metrics-addr every method is a no-op
	none.serve(nil)
	none.stopping()
	none.Close()
	if none.progress(nil) != nil {
		t.Error("progress without metrics must hand back the printer unchanged")
	}
}

func ptrTo[T any](v T) *T { return &v }
