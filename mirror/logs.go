package mirror

// This file keeps what the mirror knows of the engine's write-ahead log files, without knowing the
// engine: a LogNamer handed in says which files are logs and their sequence numbers.
//
// Invariants:
//   - When the engine creates log N, the highest earlier log of that directory is complete: it is
//     sealed (fsynced on the mirror, its SHA-256 recorded in the mirror's record) in the background, in
//     order, and Drain waits for every seal to finish.
//   - A log file removed on the primary stays on the mirror (it is retained) until the retention
//     policy drops it; a log that normal recovery still needs is never dropped, and when the engine
//     cannot tell which logs those are (an error, a timeout), none is dropped.
//   - Retention never runs on the application's request path: an unlink of a log only wakes the
//     background retention pass, which asks the engine once per pass what recovery needs. Drain runs
//     a pass that was asked for and ends it.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/mirrorctl/mirrorctl/meta"
	"golang.org/x/sys/unix"
)

// LogNamer says whether rel is a log file and its sequence number.
type LogNamer func(rel string) (uint32, bool)

// Retention says how long logs that the primary removed are kept on the mirror. The zero value keeps
// them all.
type Retention struct {
	Count int           `json:"count,omitempty"` // at most this many retained logs
	Size  int64         `json:"size,omitempty"`  // at most this many bytes of retained logs
	Age   time.Duration `json:"age,omitempty"`   // none older than this (by modification time)
}

// All reports whether every retained log is kept.
func (r Retention) All() bool { return r.Count == 0 && r.Size == 0 && r.Age == 0 }

func (r Retention) String() string {
	switch {
	case r.Count > 0:
		return fmt.Sprintf("%d files", r.Count)
	case r.Size > 0:
		return humanize.IBytes(uint64(r.Size))
	case r.Age > 0:
		return r.Age.String()
	}
	return "all"
}

// ParseRetention parses --retain-logs: "all", a count ("20"), a size ("10GiB", "500MB") or an age
// ("72h", "7d").
func ParseRetention(s string) (Retention, error) {
	s = strings.TrimSpace(s)
	bad := fmt.Errorf("--retain-logs %q is not a policy: use all, a count (20), a size (10GiB) or an age (72h, 7d)", s)
	switch {
	case s == "" || s == "all":
		return Retention{}, nil
	case strings.HasSuffix(s, "d"):
		n, err := strconv.Atoi(strings.TrimSuffix(s, "d"))
		if err != nil || n <= 0 {
			return Retention{}, bad
		}
		return Retention{Age: time.Duration(n) * 24 * time.Hour}, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 {
			return Retention{}, bad
		}
		return Retention{Count: n}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return Retention{}, bad
		}
		return Retention{Age: d}, nil
	}
	if b, err := humanize.ParseBytes(s); err == nil && b > 0 && b < 1<<62 {
		return Retention{Size: int64(b)}, nil
	}
	return Retention{}, bad
}

// IsLog reports whether rel names one of the engine's log files (by name, no I/O).
func (m *Mirror) IsLog(rel string) bool {
	_, ok := m.isLog(rel)
	return ok
}

// isLog reports whether rel is a log file.
func (m *Mirror) isLog(rel string) (uint32, bool) {
	if m.logs == nil {
		return 0, false
	}
	return m.logs(rel)
}

// LogStats describes the log files seen through the mount.
type LogStats struct {
	Current      string  `json:"current,omitempty"` // the newest log file
	Sealed       int     `json:"sealed"`
	SealedHere   int64   `json:"sealed_here"`   // logs this process sealed (Sealed can shrink by retention)
	Retained     int     `json:"retained"`      // logs kept on the mirror after the primary removed them
	BytesWritten int64   `json:"bytes_written"` // log bytes written through the mount
	BytesPerSec  float64 `json:"bytes_per_second"`
}

// startSealer starts the background sealer; Drain stops it.
func (m *Mirror) startSealer() {
	m.sealQueue = make(chan string, 64)
	m.sealDone = make(chan struct{})
	go func() {
		defer close(m.sealDone)
		for rel := range m.sealQueue {
			if err := m.seal(rel); err != nil {
				m.log.Warn("cannot seal log file on the mirror", "path", rel, "err", err)
			}
		}
	}()
}

// startRetention starts the background retention pass, woken by unlinks of logs; Drain stops it.
func (m *Mirror) startRetention() {
	m.retainWake = make(chan struct{}, 1)
	m.retainStop = make(chan struct{})
	m.retainDone = make(chan struct{})
	go func() {
		defer close(m.retainDone)
		for {
			select {
			case <-m.retainWake:
			case <-m.retainStop:
				select {
				case <-m.retainWake: // asked for before Drain: still done
				default:
					return
				}
				m.retentionPass()
				return
			}
			m.retentionPass()
		}
	}()
}

// wakeRetention asks for a retention pass without waiting for it; passes asked for meanwhile are one.
func (m *Mirror) wakeRetention() {
	if m.retainWake == nil {
		return
	}
	select {
	case m.retainWake <- struct{}{}:
	default: // a pass is already asked for, and will see this log too
	}
}

func (m *Mirror) retentionPass() {
	if err := m.ApplyRetention(); err != nil {
		m.log.Warn("retention could not drop retained log files from the mirror", "err", err)
	}
}

// Drain waits until every queued seal and a retention pass asked for are done, and stops both
// background goroutines. Changes after Drain seal nothing and drop nothing. It may be called more
// than once (Stop, then Close); every call returns once both have ended.
func (m *Mirror) Drain() {
	m.sealMu.Lock()
	if !m.sealStopped {
		m.sealStopped = true
		if m.sealQueue != nil {
			close(m.sealQueue)
		}
		if m.retainStop != nil {
			close(m.retainStop)
		}
	}
	m.sealMu.Unlock()
	if m.sealDone != nil {
		<-m.sealDone
	}
	if m.retainDone != nil {
		<-m.retainDone
	}
}

// logCreated is called when the engine creates log rel (number n): the previous log is complete.
func (m *Mirror) logCreated(rel string, n uint32) {
	m.mu.Lock()
	if m.currentLog == "" || n > m.currentNum {
		m.currentLog, m.currentNum = rel, n
	}
	m.mu.Unlock()
	prev := m.previousLog(rel, n)
	if prev == "" || m.sealQueue == nil {
		return
	}
	m.sealMu.Lock()
	defer m.sealMu.Unlock()
	if m.sealStopped {
		return // drained: a clean stop is under way, and changes after Drain seal nothing
	}
	m.sealQueue <- prev // the sealer never takes sealMu, so a full queue empties meanwhile
}

// previousLog finds the highest-numbered log below n in rel's directory on the mirror.
func (m *Mirror) previousLog(rel string, n uint32) string {
	dir := parentDir(rel)
	ents, err := m.mirror.readDir(dir)
	if err != nil {
		return ""
	}
	best, bestN := "", uint32(0)
	for _, e := range ents {
		child := path.Join(dir, e.Name())
		if k, ok := m.isLog(child); ok && k < n && (best == "" || k > bestN) {
			best, bestN = child, k
		}
	}
	return best
}

// seal makes a complete log file durable on the mirror and records its checksum.
func (m *Mirror) seal(rel string) error {
	m.ns.RLock() // the mirror's tree is not switched (reopenTarget, a lost primary) under the seal
	defer m.ns.RUnlock()
	m.mu.Lock()
	_, done := m.sealed[rel]
	m.mu.Unlock()
	if done || m.skipMirrorQuiet() {
		return nil
	}
	fd, err := m.mirror.open(rel, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	if err := f.Sync(); err != nil {
		return m.mirrorFailed("seal", rel, err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return m.mirrorFailed("seal", rel, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	m.mu.Lock()
	m.sealed[rel] = sum
	m.stats.sealedLogs.Add(1)
	m.mu.Unlock()
	return m.record.Update(func(r *meta.Record) { r.Sealed = m.Sealed() })
}

// Sealed returns the checksums of the sealed log files.
func (m *Mirror) Sealed() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]string, len(m.sealed))
	for k, v := range m.sealed {
		out[k] = v
	}
	return out
}

// skipMirrorQuiet reports whether the mirror is degraded, without recording anything.
func (m *Mirror) skipMirrorQuiet() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.degraded != nil
}

// unlinkLog removes log rel from the primary and retains it on the mirror, then applies retention.
func (m *Mirror) unlinkLog(rel string) error {
	if err := m.primary.unlink(rel); err != nil {
		return err
	}
	m.dirChanged(rel)
	m.log.Debug("log removed on the primary; retained on the mirror", "path", rel)
	if m.skipMirror(rel) {
		return nil
	}
	m.stats.retained.Add(1)
	m.wakeRetention()
	return nil
}

// RetainedLogs lists the log files that exist on the mirror but no longer on the primary, oldest first.
func (m *Mirror) RetainedLogs() ([]RetainedLog, error) {
	var out []RetainedLog
	var walk func(dir string) error
	walk = func(dir string) error {
		ents, err := m.mirror.readDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			child := path.Join(dir, e.Name())
			if IsMeta(child) {
				continue
			}
			if e.IsDir() {
				if err := walk(child); err != nil {
					return err
				}
				continue
			}
			n, ok := m.isLog(child)
			if !ok {
				continue
			}
			if _, err := m.primary.lstat(child); !errors.Is(err, unix.ENOENT) {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue
			}
			out = append(out, RetainedLog{Rel: child, Number: n, Size: info.Size(), ModTime: info.ModTime()})
		}
		return nil
	}
	if m.logs == nil {
		return nil, nil
	}
	err := walk(".")
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, err
}

// RetainedLog is a log file kept on the mirror after the primary removed it.
type RetainedLog struct {
	Rel     string
	Number  uint32
	Size    int64
	ModTime time.Time
}

// neededTimeout bounds the engine's look at the mirror's logs in one retention pass.
const neededTimeout = time.Minute

// ApplyRetention drops the oldest retained logs beyond the retention policy; never one that normal
// recovery still needs (Options.NeededFrom, asked once per pass, and only when a log is over the
// policy). It runs in the background retention pass and in Start, never on a request's path.
func (m *Mirror) ApplyRetention() error {
	if m.retention.All() || m.logs == nil || m.skipMirrorQuiet() {
		return nil // a degraded mirror is left alone: resync decides what is on it
	}
	m.ns.RLock() // the mirror's tree is not switched (reopenTarget) under the listing
	logs, err := m.RetainedLogs()
	m.ns.RUnlock()
	if err != nil {
		return err
	}
	m.stats.retained.Store(int64(len(logs)))
	over := m.overRetention(logs)
	if len(over) == 0 {
		return nil
	}
	first, err := m.firstNeeded()
	if err != nil {
		m.log.Warn("retention keeps every log file: cannot tell which ones recovery of the mirror needs", "err", err)
		return nil // when in doubt, keep them
	}
	defer m.nsShared()()
	var dropped int
	for _, l := range over {
		if l.Number >= first {
			break
		}
		if err := m.mirror.unlink(l.Rel); err != nil && !errors.Is(err, unix.ENOENT) {
			return m.mirrorFailed("retention", l.Rel, err)
		}
		m.mu.Lock()
		delete(m.sealed, l.Rel)
		m.mu.Unlock()
		m.dirChanged(l.Rel)
		m.log.Info("retention dropped a log file from the mirror", "path", l.Rel, "policy", m.retention.String())
		dropped++
		m.stats.retained.Store(int64(len(logs) - dropped))
	}
	if dropped > 0 {
		return m.syncDirtyDirs()
	}
	return nil
}

// overRetention returns the oldest of logs (sorted oldest first) that the policy no longer keeps.
func (m *Mirror) overRetention(logs []RetainedLog) []RetainedLog {
	var total int64
	for _, l := range logs {
		total += l.Size
	}
	count := len(logs)
	for i, l := range logs {
		over := (m.retention.Count > 0 && count > m.retention.Count) ||
			(m.retention.Size > 0 && total > m.retention.Size) ||
			(m.retention.Age > 0 && time.Since(l.ModTime) > m.retention.Age)
		if !over {
			return logs[:i]
		}
		count--
		total -= l.Size
	}
	return logs
}

// firstNeeded asks the engine, with a timeout, for the first log that normal recovery of the mirror
// needs; without an engine to ask, no log is needed.
func (m *Mirror) firstNeeded() (uint32, error) {
	if m.neededFrom == nil {
		return math.MaxUint32, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), neededTimeout)
	defer cancel()
	return m.neededFrom(ctx)
}

// scanLogs finds the newest log file on the primary and counts the logs retained on the mirror.
func (m *Mirror) scanLogs() {
	if m.logs == nil {
		return
	}
	var walk func(dir string)
	walk = func(dir string) {
		ents, err := m.primary.readDir(dir)
		if err != nil {
			return
		}
		for _, e := range ents {
			child := path.Join(dir, e.Name())
			if IsMeta(child) {
				continue
			}
			if e.IsDir() {
				walk(child)
			} else if n, ok := m.isLog(child); ok && (m.currentLog == "" || n > m.currentNum) {
				m.currentLog, m.currentNum = child, n
			}
		}
	}
	m.mu.Lock()
	walk(".")
	m.mu.Unlock()
	if r, err := m.RetainedLogs(); err == nil {
		m.stats.retained.Store(int64(len(r)))
	}
}
