package archive

// The pusher runs Push every interval in the background of a mount. It owns its status (under mu);
// it only reads the mirror, so a server that is down, slow or full makes the archive fall behind and
// never touches a commit. One log line per change of state: failing (with the error, again when the
// error changes), and caught up again.

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/mirrorctl/mirrorctl/engine"
)

// Pusher pushes a mirror to a store periodically. Store, Mirror and Engine are required.
type Pusher struct {
	Store    *Store
	Mirror   string
	Engine   engine.Core   // with a log history (Berkeley DB) its logs are shipped, else snapshots and WAL (SQLite)
	Interval time.Duration // between the end of a push and the start of the next; default 1s
	Options  PushOptions
	// Retention is applied by a prune after the push that took a snapshot, at least every
	// PruneEvery (default 1 min) otherwise, and at Final; the zero value keeps every snapshot, and
	// the prune then only deletes what the newest manifest no longer needs (older manifests, the
	// parts of logs since sealed), so that a push every second does not grow the bucket without bound.
	Retention  Retention
	PruneEvery time.Duration
	Logger     *slog.Logger // default: slog.Default()

	mu sync.Mutex // guards st
	st PusherStatus

	// last is the manifest the last successful push left (nil: read the newest); only the goroutine
	// that calls PushOnce (Run's, then the caller's after Run ended) touches it, and lastPrune.
	last      *Manifest
	lastPrune time.Time
}

// PusherStatus is how far the archive is behind the mirror, as status shows it.
type PusherStatus struct {
	Location string        `json:"location"`
	Interval time.Duration `json:"interval_ns"`
	// LastPush is when the last successful push started: the archive holds the mirror as of then.
	LastPush   time.Time `json:"last_push,omitempty"`
	LastUpload time.Time `json:"last_upload,omitempty"` // when a push last wrote a manifest
	Generation uint64    `json:"generation"`
	// LagBytes are the log bytes on the mirror that the archive lacks; LagSeconds how long ago the
	// archive last held the mirror's state (0 when it lacks nothing).
	LagBytes   int64   `json:"lag_bytes"`
	LagSeconds float64 `json:"lag_seconds"`
	Failing    bool    `json:"failing"`
	LastError  string  `json:"last_error,omitempty"`
	Pushes     int64   `json:"pushes"`
	Failures   int64   `json:"failures"`
	// ResumedBytes are what pushes found in the bucket from interrupted uploads and did not send
	// again; AbortedUploads the abandoned incomplete uploads pushes and prunes aborted.
	ResumedBytes   int64 `json:"resumed_bytes"`
	AbortedUploads int64 `json:"aborted_uploads"`
	// The prunes after pushes (retention): how many ran, when the last ended, what they deleted in
	// all, and what the bucket held after the last one.
	Prunes          int64     `json:"prunes"`
	LastPrune       time.Time `json:"last_prune,omitempty"`
	PrunedSnapshots int64     `json:"pruned_snapshots"`
	PrunedObjects   int64     `json:"pruned_objects"`
	PrunedBytes     int64     `json:"pruned_bytes"`
	KeptObjects     int64     `json:"kept_objects"`
	KeptBytes       int64     `json:"kept_bytes"`

	started    time.Time
	newestLog  uint32 // the newest log the archive holds, and how far (its last non-zero byte)
	newestSize int64
	// source is, for an engine without a log history, what the mirror's files looked like when the
	// newest snapshot copied them.
	source []FileStamp
}

// Run pushes until ctx ends, then returns.
func (p *Pusher) Run(ctx context.Context) {
	iv := p.Interval
	if iv <= 0 {
		iv = time.Second
	}
	p.mu.Lock()
	p.st.Location, p.st.Interval, p.st.started = p.Store.loc.String(), iv, time.Now()
	p.mu.Unlock()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.PushOnce(ctx)
		t.Reset(iv)
	}
}

// PushOnce runs one push and records its outcome.
func (p *Pusher) PushOnce(ctx context.Context) error {
	log := p.logger()
	start := time.Now()
	rep, m, err := PushFrom(ctx, p.Store, p.Mirror, p.Engine, p.Options, p.last)
	p.last = nil // after a failure, the next push reads what the bucket holds
	var pr *PruneReport
	if err == nil {
		p.last = &m
		pr, err = p.pruneAfter(ctx, rep)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.st.ResumedBytes += rep.ResumedBytes
	p.st.AbortedUploads += int64(rep.AbortedUploads)
	if pr != nil {
		p.st.Prunes++
		p.st.LastPrune = pr.Finished
		p.st.PrunedSnapshots += int64(len(pr.Dropped))
		p.st.PrunedObjects += int64(pr.Objects + pr.Manifests)
		p.st.PrunedBytes += pr.Bytes
		p.st.AbortedUploads += int64(pr.AbortedUploads)
		p.st.KeptObjects, p.st.KeptBytes = int64(pr.KeptObjects), pr.KeptBytes
	}
	if ctx.Err() != nil && err != nil {
		return err // stopping: not a failure of the archive
	}
	p.st.Location = p.Store.loc.String()
	p.st.Pushes++
	if err != nil {
		p.st.Failures++
		if !p.st.Failing || p.st.LastError != err.Error() {
			log.Warn("archive push failing: the archive falls behind", "archive", p.st.Location, "err", err)
		}
		p.st.Failing, p.st.LastError = true, err.Error()
		return err
	}
	if p.st.Failing {
		log.Info("archive push works again", "archive", p.st.Location, "generation", rep.Generation)
	}
	p.st.Failing, p.st.LastError = false, ""
	p.st.LastPush, p.st.Generation = start, rep.Generation
	p.st.newestLog, p.st.newestSize = rep.NewestLog, rep.OpenBytes
	p.st.source = heldStamps(m)
	if rep.Changed {
		p.st.LastUpload = rep.Finished
	}
	return nil
}

// Final pushes once more and prunes, whatever time passed since the last prune: the mount's last
// word on the archive.
func (p *Pusher) Final(ctx context.Context) error {
	p.lastPrune = time.Time{}
	return p.PushOnce(ctx)
}

// pruneAfter applies the retention after a push, when it is due, and returns its report (nil: none
// ran).
func (p *Pusher) pruneAfter(ctx context.Context, rep PushReport) (*PruneReport, error) {
	every := p.PruneEvery
	if every <= 0 {
		every = time.Minute
	}
	if p.last == nil || (rep.Snapshot == "" && !p.lastPrune.IsZero() && time.Since(p.lastPrune) < every) {
		return nil, nil
	}
	pr, m, err := pruneFrom(ctx, p.Store, *p.last, p.Retention, false)
	if err != nil {
		p.last = nil
		return nil, fmt.Errorf("prune: %w", err)
	}
	p.last, p.lastPrune = &m, time.Now()
	if len(pr.Dropped) > 0 {
		p.logger().Info("archive pruned", "archive", pr.Location, "dropped_snapshots", len(pr.Dropped), "objects", pr.Objects, "bytes", pr.Bytes, "kept_bytes", pr.KeptBytes)
	}
	return &pr, nil
}

func (p *Pusher) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.Default()
	}
	return p.Logger
}

// Status is the pusher's status now, the lag measured against the mirror's logs.
func (p *Pusher) Status() PusherStatus {
	p.mu.Lock()
	st := p.st
	p.mu.Unlock()
	if hist, ok := hasLogHistory(p.Engine); !ok {
		if now, err := stampFiles(p.Engine, p.Mirror); err == nil {
			st.LagBytes = changedBytes(st.source, now)
		}
	} else if logs, err := hist.Logs(p.Mirror); err == nil {
		st.LagBytes = lagBytes(logs, st.newestLog, st.newestSize, func(l engine.LogFile) int64 {
			n, err := fileExtent(filepath.Join(p.Mirror, filepath.FromSlash(l.Rel)))
			if err != nil {
				return l.Size
			}
			return n
		})
	}
	if st.LagBytes > 0 || st.LastPush.IsZero() {
		since := st.LastPush
		if since.IsZero() {
			since = st.started
		}
		st.LagSeconds = time.Since(since).Seconds()
	}
	return st
}

// lagBytes counts the bytes of logs beyond what the archive holds: every later log to its extent
// (its last non-zero byte: Berkeley DB fills a new log with zeros), and what the archive's newest log
// has grown by.
func lagBytes(logs []engine.LogFile, newest uint32, covered int64, extent func(engine.LogFile) int64) int64 {
	var n int64
	for _, l := range logs {
		if l.Number < newest {
			continue
		}
		e := extent(l)
		switch {
		case l.Number > newest:
			n += e
		case e > covered:
			n += e - covered
		}
	}
	return n
}
