package mirror

import (
	"sync/atomic"
	"time"
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
	mirrorErrors atomic.Int64
	primarySync  latency
	mirrorSync   latency
}

// latency accumulates fsync durations.
type latency struct {
	count, totalNs, maxNs atomic.Int64
}

func (l *latency) observe(d time.Duration) {
	l.count.Add(1)
	l.totalNs.Add(int64(d))
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
}

func (l *latency) snapshot() SyncStats {
	s := SyncStats{Count: l.count.Load(), Max: time.Duration(l.maxNs.Load())}
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
	MirrorErrors  int64         `json:"mirror_errors"`
	PrimaryFsync  SyncStats     `json:"primary_fsync"`
	MirrorFsync   SyncStats     `json:"mirror_fsync"`
	Logs          *LogStats     `json:"logs,omitempty"`
}

// Stats returns the current figures.
func (m *Mirror) Stats() Stats {
	c := &m.stats
	return Stats{
		Uptime:        time.Since(c.started),
		OpsMirrored:   c.ops.Load(),
		Writes:        c.writes.Load(),
		BytesMirrored: c.bytes.Load(),
		Pending:       c.inFlight.Load(),
		MirrorErrors:  c.mirrorErrors.Load(),
		PrimaryFsync:  c.primarySync.snapshot(),
		MirrorFsync:   c.mirrorSync.snapshot(),
		Logs:          m.logStats(),
	}
}

func (m *Mirror) logStats() *LogStats {
	if m.logs == nil {
		return nil
	}
	m.mu.Lock()
	ls := &LogStats{Current: m.currentLog, Sealed: len(m.sealed), BytesWritten: m.stats.logBytes.Load(),
		Retained: int(m.stats.retained.Load())}
	m.mu.Unlock()
	if up := time.Since(m.stats.started).Seconds(); up > 0 {
		ls.BytesPerSec = float64(ls.BytesWritten) / up
	}
	return ls
}
