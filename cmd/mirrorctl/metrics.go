package main

// The mount's Prometheus endpoint (--metrics-addr). The mirror core keeps plain atomic counters and
// knows nothing of Prometheus; the collector here reads a snapshot of them when Prometheus scrapes,
// so a write through the mount costs nothing more than it did.
//
// The endpoint has no authentication: it listens on loopback unless the operator says otherwise.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mirrorctl/mirrorctl/archive"
	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/mirror"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/urfave/cli/v2"
)

var (
	metricsAddrFlag = &cli.StringFlag{
		Name:  "metrics-addr",
		Usage: "serve Prometheus metrics at http://`HOST:PORT`/metrics; an empty host (:9477) means 127.0.0.1",
	}
	metricsRemoteFlag = &cli.BoolFlag{
		Name:  "metrics-allow-remote",
		Usage: "let --metrics-addr listen on an address other than loopback (the metrics have no authentication)",
	}
)

// parseMetricsAddr checks a --metrics-addr value and returns the address to listen on: an empty host
// is 127.0.0.1, and a host that is not loopback is refused unless allowRemote.
func parseMetricsAddr(addr string, allowRemote bool) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", usageError("--metrics-addr %q is not HOST:PORT: give a port, e.g. --metrics-addr :9477 (127.0.0.1) or 127.0.0.1:9477", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", usageError("--metrics-addr %q: the port %q is not a number from 0 to 65535: give e.g. --metrics-addr :9477", addr, port)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	loopback := host == "localhost"
	if ip, err := netip.ParseAddr(host); err == nil {
		loopback = ip.IsLoopback()
	}
	if !loopback && !allowRemote {
		return "", usageError("--metrics-addr %s is not a loopback address, and the metrics have no authentication: use 127.0.0.1:%s, or add --metrics-allow-remote to serve them there anyway", addr, port)
	}
	return net.JoinHostPort(host, port), nil
}

// metricStates are the values of mirrorctl_state's label; exactly one of them is 1.
var metricStates = []string{"syncing", "in_sync", "degraded", "promoted", "stopped"}

// metricsSnapshot is what one scrape reports.
type metricsSnapshot struct {
	State         string // one of metricStates
	Stats         mirror.Stats
	DegradedSince time.Time // zero unless degraded
	DegradedPaths int
	Resync        resyncGauges
	LastResync    time.Duration         // how long the last finished resync took; 0 before the first
	Archive       *archive.PusherStatus // --archive: how far behind; nil without
	Engine        string                // the mirror's engine (bdb, sqlite, lmdb); "" before it is known
	// SinceCheckpoint is the log a promote would replay now, where the engine can tell (nil: not known).
	SinceCheckpoint *int64
}

// resyncGauges describe the comparison that brings the mirror up to date: the initial one at start
// (paths unknown) or a resync while serving.
type resyncGauges struct {
	Running               bool
	BytesDone, BytesTotal int64
	PathsDone, PathsTotal int64
}

// mountView is what the collector reads: the initial comparison's progress until the session exists,
// then the session's figures. Written by runMount, read by scrapes.
type mountView struct {
	session              atomic.Pointer[mirror.Session]
	archive              atomic.Pointer[archivePush]
	stopped              atomic.Bool
	startDone, startGoal atomic.Int64
	engine               atomic.Pointer[string]
	sinceCheckpoint      atomic.Pointer[int64] // refreshed in the background (metricsServer.engine)
}

func (v *mountView) snapshot() metricsSnapshot {
	s := v.session.Load()
	if s == nil {
		return metricsSnapshot{State: "syncing", Resync: resyncGauges{Running: true,
			BytesDone: v.startDone.Load(), BytesTotal: v.startGoal.Load()}}
	}
	snap := metricsSnapshot{State: "in_sync", Stats: s.Stats()}
	if d := s.Degraded(); d != nil {
		snap.State, snap.DegradedSince, snap.DegradedPaths = "degraded", d.Since, len(d.Dirty)
	}
	a := s.LastResync()
	snap.LastResync = a.Took
	if p := a.Progress; a.Active && p != nil {
		snap.State = "syncing"
		snap.Resync = resyncGauges{Running: true, BytesDone: p.BytesExamined, BytesTotal: p.BytesTotal,
			PathsDone: int64(p.PathsDone), PathsTotal: int64(p.PathsDone + p.PathsLeft)}
	}
	if v.stopped.Load() {
		snap.State = "stopped"
	}
	snap.Archive = v.archive.Load().status()
	if e := v.engine.Load(); e != nil {
		snap.Engine = *e
	}
	snap.SinceCheckpoint = v.sinceCheckpoint.Load()
	return snap
}

func newMetricDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("mirrorctl_"+name, help, labels, nil)
}

var (
	descState         = newMetricDesc("state", "State of the mirror: 1 for the current state, 0 for the others.", "state")
	descBytes         = newMetricDesc("mirrored_bytes_total", "Bytes written to the mirror through the mount.")
	descOps           = newMetricDesc("mirrored_operations_total", "Changes (writes, creates, renames, ...) applied to the mirror through the mount.")
	descWrites        = newMetricDesc("writes_total", "Writes through the mount that the primary accepted.")
	descPendingOps    = newMetricDesc("pending_operations", "Changes applied to the primary whose mirror half has not finished.")
	descPendingBytes  = newMetricDesc("pending_bytes", "Bytes written to the primary whose mirror half has not finished.")
	descFsync         = newMetricDesc("fsync_duration_seconds", "Duration of fsyncs (files and directories) on each side.", "side")
	descSealed        = newMetricDesc("log_files_sealed_total", "Log files sealed on the mirror (fsynced and checksummed once the next log began) by this mount.")
	descRetained      = newMetricDesc("log_files_retained", "Log files kept on the mirror after the primary removed them.")
	descLogBytes      = newMetricDesc("log_written_bytes_total", "Bytes written to the database's log files through the mount.")
	descResyncRunning = newMetricDesc("resync_running", "1 while the mirror is being brought up to date: the comparison at start, or a resync.")
	descResyncBytes   = newMetricDesc("resync_done_bytes", "Bytes the running comparison or resync has examined (and copied where they differed).")
	descResyncGoal    = newMetricDesc("resync_expected_bytes", "Bytes the running comparison or resync expects to examine.")
	descResyncPaths   = newMetricDesc("resync_done_paths", "Out-of-date paths the running resync has copied.")
	descResyncPathsTo = newMetricDesc("resync_expected_paths", "Out-of-date paths the running resync has copied or still has to copy.")
	descResyncTook    = newMetricDesc("resync_last_duration_seconds", "How long the last resync took (0 before the first).")
	descMirrorErrors  = newMetricDesc("mirror_errors_total", "Failures of the mirror side of a change.")
	descPrimaryErrors = newMetricDesc("primary_errors_total", "I/O errors of the primary (EIO, EROFS, ENOSPC, EDQUOT) returned to the application.")
	descDegradedSince = newMetricDesc("degraded_since_timestamp_seconds", "When the mirror became degraded, in seconds since the epoch; only present while degraded.")
	descDegradedPaths = newMetricDesc("degraded_paths", "Paths changed since the mirror degraded, which a resync will copy.")
	descArchiveLagS   = newMetricDesc("archive_lag_seconds", "How long ago the archive (--archive) last held the mirror's state; 0 when it lacks nothing.")
	descArchiveLagB   = newMetricDesc("archive_lag_bytes", "Log bytes on the mirror that the archive (--archive) lacks.")
	descArchiveFail   = newMetricDesc("archive_failing", "1 while the archive's pushes fail (the archive falls behind).")
	descArchiveErrors = newMetricDesc("archive_push_failures_total", "Pushes to the archive that failed.")
	descPrimaryLost   = newMetricDesc("primary_lost_since_timestamp_seconds", "When the mount lost its primary and switched to the mirror (--on-primary-error=failover), in seconds since the epoch; only present after a switch, until the mount stops.")
	descFailovers     = newMetricDesc("failovers_total", "Switches to the mirror after the primary's disk died (--on-primary-error=failover).")
	descEngine        = newMetricDesc("engine_info", "1, with the engine of the mirrored files as its label: bdb, sqlite or lmdb.", "engine")
	descSinceCkpt     = newMetricDesc("log_bytes_since_checkpoint", "Log bytes on the mirror since the last checkpoint, which a promote would replay now (Berkeley DB: the log since the checkpoint; SQLite: WAL bytes not checkpointed); absent for engines that cannot tell (LMDB), refreshed every 15 s.")
	descForeign       = newMetricDesc("foreign_writes_total", "Changes made to the primary directly, not through the mount, that the fanotify watch saw; each is marked for resync.")
)

var allMetricDescs = append([]*prometheus.Desc{
	descState, descBytes, descOps, descWrites, descPendingOps, descPendingBytes, descFsync, descSealed,
	descRetained, descLogBytes, descResyncRunning, descResyncBytes, descResyncGoal, descResyncPaths,
	descResyncPathsTo, descResyncTook, descMirrorErrors, descPrimaryErrors, descDegradedSince, descDegradedPaths,
	descForeign, descPrimaryLost, descFailovers, descEngine, descSinceCkpt, descArchiveLagS, descArchiveLagB, descArchiveFail, descArchiveErrors,
}, archiveRetentionDescs...) // metrics_archive.go

// mirrorCollector turns a snapshot of the mount's figures into metrics at scrape time.
type mirrorCollector struct {
	snapshot func() metricsSnapshot
}

var _ prometheus.Collector = mirrorCollector{}

func (c mirrorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allMetricDescs {
		ch <- d
	}
}

func (c mirrorCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.snapshot()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	for _, st := range metricStates {
		gauge(descState, boolMetric(s.State == st), st)
	}
	st := s.Stats
	counter(descBytes, st.BytesMirrored)
	counter(descOps, st.OpsMirrored)
	counter(descWrites, st.Writes)
	gauge(descPendingOps, float64(st.Pending))
	gauge(descPendingBytes, float64(st.PendingBytes))
	ch <- fsyncHistogram(st.PrimaryFsync, "primary")
	ch <- fsyncHistogram(st.MirrorFsync, "mirror")
	var logs mirror.LogStats
	if st.Logs != nil {
		logs = *st.Logs
	}
	counter(descSealed, logs.SealedHere)
	gauge(descRetained, float64(logs.Retained))
	counter(descLogBytes, logs.BytesWritten)
	r := s.Resync
	gauge(descResyncRunning, boolMetric(r.Running))
	gauge(descResyncBytes, float64(r.BytesDone))
	gauge(descResyncGoal, float64(r.BytesTotal))
	gauge(descResyncPaths, float64(r.PathsDone))
	gauge(descResyncPathsTo, float64(r.PathsTotal))
	gauge(descResyncTook, s.LastResync.Seconds())
	counter(descMirrorErrors, st.MirrorErrors)
	counter(descPrimaryErrors, st.PrimaryErrors)
	if !s.DegradedSince.IsZero() {
		gauge(descDegradedSince, float64(s.DegradedSince.UnixNano())/1e9)
	}
	gauge(descDegradedPaths, float64(s.DegradedPaths))
	if l := st.PrimaryLost; l != nil {
		gauge(descPrimaryLost, float64(l.At.UnixNano())/1e9)
	}
	counter(descFailovers, st.Failovers)
	if s.Engine != "" {
		gauge(descEngine, 1, s.Engine)
	}
	if n := s.SinceCheckpoint; n != nil {
		gauge(descSinceCkpt, float64(*n))
	}
	counter(descForeign, st.ForeignWrites)
	if a := s.Archive; a != nil {
		gauge(descArchiveLagS, a.LagSeconds)
		gauge(descArchiveLagB, float64(a.LagBytes))
		gauge(descArchiveFail, boolMetric(a.Failing))
		counter(descArchiveErrors, a.Failures)
		collectArchiveRetention(ch, a)
	}
}

// fsyncHistogram is one side's fsync latency; the core's buckets are already cumulative.
func fsyncHistogram(fs mirror.SyncStats, side string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(mirror.FsyncBuckets))
	for i, le := range mirror.FsyncBuckets {
		var n int64
		if i < len(fs.Buckets) {
			n = fs.Buckets[i]
		}
		buckets[le.Seconds()] = uint64(n)
	}
	return prometheus.MustNewConstHistogram(descFsync, uint64(fs.Count), fs.Total.Seconds(), buckets, side)
}

func boolMetric(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// metricsServer is the running endpoint. A nil *metricsServer (no --metrics-addr) does nothing.
type metricsServer struct {
	srv  *http.Server
	view *mountView
}

// startMetrics checks --metrics-addr and listens on it, before anything is mounted or written, so that
// a bad address or a port in use stops the mount at once.
func startMetrics(c *cli.Context) (*metricsServer, error) {
	raw := c.String(metricsAddrFlag.Name)
	if raw == "" {
		if c.Bool(metricsRemoteFlag.Name) {
			return nil, usageError("--metrics-allow-remote needs --metrics-addr HOST:PORT")
		}
		return nil, nil
	}
	addr, err := parseMetricsAddr(raw, c.Bool(metricsRemoteFlag.Name))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		return nil, fmt.Errorf("metrics: cannot listen on %s: %v: choose another --metrics-addr, or stop what uses it", addr, err)
	}
	ms := &metricsServer{view: &mountView{}}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(metricsRegistry(ms.view.snapshot), promhttp.HandlerOpts{}))
	ms.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = ms.srv.Serve(ln) }()
	fmt.Fprintf(c.App.Writer, "metrics at http://%s/metrics\n", ln.Addr())
	return ms, nil
}

// metricsRegistry holds everything the endpoint exports: the mirror's figures, the Go runtime's and
// the process's. The monitoring test reads the metric names the alert rules and dashboard may use here.
func metricsRegistry(snapshot func() metricsSnapshot) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(mirrorCollector{snapshot: snapshot},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// progress records the initial comparison's progress for the metrics, and passes it on to show.
func (ms *metricsServer) progress(show func(done, total int64)) func(done, total int64) {
	if ms == nil {
		return show
	}
	return func(done, total int64) {
		ms.view.startDone.Store(done)
		ms.view.startGoal.Store(total)
		show(done, total)
	}
}

// serve switches the metrics to the session's figures, once the mirror is up to date.
func (ms *metricsServer) serve(s *mirror.Session) {
	if ms != nil {
		ms.view.session.Store(s)
	}
}

// engine names the mirror's engine in the metrics and, where the engine can tell, keeps the log a
// promote would replay current: read from the mirror every 15 s (off the request path) until ctx ends.
func (ms *metricsServer) engine(ctx context.Context, kind string, eng engine.Core, mirrorDir func() string) {
	if ms == nil {
		return
	}
	ms.view.engine.Store(&kind)
	p, ok := eng.(engine.Pending)
	if !ok || eng.Available() != nil {
		return
	}
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if n, err := p.BytesSinceCheckpoint(rctx, mirrorDir()); err == nil {
				ms.view.sinceCheckpoint.Store(&n)
			}
			cancel()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// archiving adds the archive's lag to the metrics.
func (ms *metricsServer) archiving(a *archivePush) {
	if ms != nil && a != nil {
		ms.view.archive.Store(a)
	}
}

// stopping says that the mount is gone and the mirror is being flushed and released.
func (ms *metricsServer) stopping() {
	if ms != nil {
		ms.view.stopped.Store(true)
	}
}

// Close stops the endpoint.
func (ms *metricsServer) Close() {
	if ms == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = ms.srv.Shutdown(ctx)
}
