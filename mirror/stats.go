package mirror

import (
	"errors"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// counters are the live figures of a Mirror; every field is updated atomically where it happens.
type counters struct {
	started      time.Time
	ops          atomic.Int64 // operations applied to the mirror
	writes       atomic.Int64
	bytes        atomic.Int64 // bytes written to the mirror
	logBytes     atomic.Int64 // bytes written to log files
	retained     atomic.Int64 // log files kept on the mirror after the primary removed them
	inFlight     atomic.Int64 // operations between their primary and mirror halves
	pendingBytes atomic.Int64 // bytes written to the primary whose mirror half has not finished
	sealedLogs   atomic.Int64 // log files sealed by this Mirror
	mirrorErrors atomic.Int64
	primaryErrs  atomic.Int64 // I/O errors of the primary (EIO, EROFS, ENOSPC, EDQUOT)
	primaryLast  atomic.Value // string: the last of them
	failovers    atomic.Int64 // switches to the mirror after the primary was lost
	primarySync  latency
	mirrorSync   latency
	foreign      foreignCounters // writes made to the primary behind the mount's back (foreign.go)
}

const fsyncBuckets = 18

// FsyncBuckets are the upper bounds of the fsync latency histogram: 50µs, doubling up to about 6.6 s.
// Slower fsyncs are counted only in SyncStats.Count.
var FsyncBuckets = func() []time.Duration {
	b := make([]time.Duration, fsyncBuckets)
	for i := range b {
		b[i] = 50 * time.Microsecond << i
	}
	return b
}()

// latency accumulates fsync durations: a histogram of plain atomic counters, so that observing costs
// no more than a few atomic adds.
type latency struct {
	count, totalNs, maxNs atomic.Int64
	buckets               [fsyncBuckets]atomic.Int64 // buckets[i]: fsyncs in (FsyncBuckets[i-1], FsyncBuckets[i]]
}

// observe counts d before its bucket, and snapshot reads the buckets before the count, so that a
// snapshot never shows more fsyncs in the buckets than in the count.
func (l *latency) observe(d time.Duration) {
	l.count.Add(1)
	l.totalNs.Add(int64(d))
	for i, le := range FsyncBuckets {
		if d <= le {
			l.buckets[i].Add(1)
			break
		}
	}
	for {
		cur := l.maxNs.Load()
		if int64(d) <= cur || l.maxNs.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// SyncStats describes the fsyncs of one side.
type SyncStats struct {
	Count int64         `json:"count"`
	Mean  time.Duration `json:"mean_ns"`
	Max   time.Duration `json:"max_ns"`
	Total time.Duration `json:"total_ns"`
	// Buckets[i] counts the fsyncs that took at most FsyncBuckets[i] (cumulative, like Prometheus's le).
	Buckets []int64 `json:"buckets,omitempty"`
}

func (l *latency) snapshot() SyncStats {
	var s SyncStats
	s.Buckets = make([]int64, len(l.buckets))
	var cum int64
	for i := range l.buckets {
		cum += l.buckets[i].Load()
		s.Buckets[i] = cum
	}
	s.Count, s.Total, s.Max = l.count.Load(), time.Duration(l.totalNs.Load()), time.Duration(l.maxNs.Load())
	if s.Count > 0 {
		s.Mean = time.Duration(l.totalNs.Load() / s.Count)
	}
	return s
}

// Stats is a snapshot of a Mirror's figures.
type Stats struct {
	Uptime        time.Duration `json:"uptime_ns"`
	OpsMirrored   int64         `json:"ops_mirrored"`
	Writes        int64         `json:"writes"`
	BytesMirrored int64         `json:"bytes_mirrored"`
	Pending       int64         `json:"pending"`
	PendingBytes  int64         `json:"pending_bytes"` // written to the primary, mirror half not finished
	MirrorErrors  int64         `json:"mirror_errors"`
	PrimaryErrors int64         `json:"primary_errors"`
	PrimaryError  string        `json:"primary_last_error,omitempty"`
	PrimaryFsync  SyncStats     `json:"primary_fsync"`
	MirrorFsync   SyncStats     `json:"mirror_fsync"`
	Logs          *LogStats     `json:"logs,omitempty"`
	// ForeignWrites counts the changes made to the primary directly, not through the mount, that the
	// watcher saw (the kernel merges a burst of changes to one file into one); LastForeignWrite is
	// the latest of them.
	ForeignWrites    int64         `json:"foreign_writes"`
	LastForeignWrite *ForeignWrite `json:"last_foreign_write,omitempty"`
	// PrimaryLost is the switch to the mirror after the primary was lost (--on-primary-error=failover).
	PrimaryLost *PrimaryLoss `json:"primary_lost,omitempty"`
	Failovers   int64        `json:"failovers"`
}

// Stats returns the current figures.
func (m *Mirror) Stats() Stats {
	c := &m.stats
	foreign, lastForeign := c.foreignStats()
	return Stats{
		Uptime:        time.Since(c.started),
		OpsMirrored:   c.ops.Load(),
		Writes:        c.writes.Load(),
		BytesMirrored: c.bytes.Load(),
		Pending:       c.inFlight.Load(),
		PendingBytes:  c.pendingBytes.Load(),
		MirrorErrors:  c.mirrorErrors.Load(),
		PrimaryErrors: c.primaryErrs.Load(),
		PrimaryError:  lastString(&c.primaryLast),
		PrimaryFsync:  c.primarySync.snapshot(),
		MirrorFsync:   c.mirrorSync.snapshot(),
		Logs:          m.logStats(),
		ForeignWrites: foreign, LastForeignWrite: lastForeign,
		PrimaryLost: m.PrimaryLost(), Failovers: c.failovers.Load(),
	}
}

func (m *Mirror) logStats() *LogStats {
	if m.logs == nil {
		return nil
	}
	m.mu.Lock()
	ls := &LogStats{Current: m.currentLog, Sealed: len(m.sealed), BytesWritten: m.stats.logBytes.Load(),
		Retained: int(m.stats.retained.Load()), SealedHere: m.stats.sealedLogs.Load()}
	m.mu.Unlock()
	if up := time.Since(m.stats.started).Seconds(); up > 0 {
		ls.BytesPerSec = float64(ls.BytesWritten) / up
	}
	return ls
}

func lastString(v *atomic.Value) string {
	s, _ := v.Load().(string)
	return s
}

// NotePrimaryError counts an error the primary gave a read (lookup, getattr) that means its disk
// is failing; the caller still returns it to the application.
func (m *Mirror) NotePrimaryError(op, rel string, err error) error {
	return m.primaryFailed(op, rel, err)
}

// primaryFailed counts an error of the primary that means its disk is failing; the application
// gets the error, and status shows it.
func (m *Mirror) primaryFailed(op, rel string, err error) error {
	var e unix.Errno
	if errors.As(err, &e) && (e == unix.EIO || e == unix.EROFS || e == unix.ENOSPC || e == unix.EDQUOT) {
		m.stats.primaryErrs.Add(1)
		m.stats.primaryLast.Store(time.Now().UTC().Format(time.RFC3339) + " " + op + " " + rel + ": " + e.Error())
	}
	return err
}
