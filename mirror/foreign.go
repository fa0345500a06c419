package mirror

// Changes made to the primary behind the mount's back: another process writing the primary directly,
// as the mount's fanotify watcher (package foreign) reports them. The mirror did not see them, so
// each is counted, logged (at most a line a minute), and its path marked for resync the way a failure
// of the mirror marks one: the mirror turns degraded with the path dirty, and the next resync (the
// automatic one, or mirrorctl resync) copies it from the primary.
//
// Invariants:
//   - When NoteForeignChange returns, a mirrored path it was given is in the degraded marker's dirty
//     list, durably (or the failure to write the marker was logged, as for a mirror failure).
//   - What is not mirrored, and the metadata area, are neither counted nor marked: the mount's own
//     bookkeeping and the files it never mirrors are not the mirror's business.
//   - A foreign change never stops a running resync: the path it adds is one more for that resync,
//     and a path the resync is copying when the change arrives stays dirty and is copied again (the
//     copy may have read it before the change), up to maxCopies times.
//   - It is the degrade path whatever --on-mirror-error says: a foreign write is no failure of the
//     mirror to return to an application, and no application asked for it.

import (
	"fmt"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mirrorctl/mirrorctl/meta"
)

// ForeignWrite is a change made to the primary directly, not through the mount.
type ForeignWrite struct {
	Path string    `json:"path"`
	PID  int       `json:"pid,omitempty"`
	Comm string    `json:"comm,omitempty"`
	At   time.Time `json:"at"`
}

// foreignCounters count the foreign writes; part of counters, so safe for concurrent use.
type foreignCounters struct {
	count  atomic.Int64
	last   atomic.Pointer[ForeignWrite]
	logged rateLimit // one log line a minute, however many writes
}

// NoteForeignChange records that process pid (named comm, "" if unknown) changed rel on the primary
// directly, and marks rel for resync.
func (m *Mirror) NoteForeignChange(rel string, pid int, comm string) {
	rel = path.Clean(rel)
	if rel == ".." || strings.HasPrefix(rel, "../") || path.IsAbs(rel) || IsMeta(rel) || !m.policy.Mirrored(rel) {
		return
	}
	who := fmt.Sprintf("pid %d", pid)
	if comm != "" {
		who += " (" + comm + ")"
	}
	m.noteForeign(ForeignWrite{Path: rel, PID: pid, Comm: comm, At: time.Now().UTC()}, "foreign write to "+rel+" by "+who)
}

// NoteForeignLoss records that foreign changes may have been missed (the watcher's queue overflowed),
// and marks the whole tree for resync.
func (m *Mirror) NoteForeignLoss() {
	m.noteForeign(ForeignWrite{Path: ".", At: time.Now().UTC()}, "changes to the primary were lost by the foreign-write watcher (its queue overflowed): the whole tree")
}

func (m *Mirror) noteForeign(w ForeignWrite, reason string) {
	f := &m.stats.foreign
	f.count.Add(1)
	f.last.Store(&w)
	if ok, suppressed := f.logged.allow(w.At, time.Minute); ok {
		m.log.Warn("foreign write: the primary was changed directly, not through the mount; the path is marked for resync. "+
			"Point applications at the mount point, never at the primary directly", "path", w.Path, "pid", w.PID, "comm", w.Comm,
			"reason", reason, "lines_not_logged", suppressed)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.copying; c != "" && (c == "." || w.Path == "." || Within(w.Path, c) || Within(c, w.Path)) {
		m.copyTouched = true // the running copy of c may have read before this change
	}
	if m.degradeLocked(reason) {
		m.log.Error("mirror now DEGRADED: it misses a write made behind the mount's back; the next resync copies it", "path", w.Path)
	}
	m.addDirtyLocked(w.Path)
}

// degradeLocked marks the mirror degraded for reason unless it is already, and reports whether it
// was not. m.mu must be held; the caller adds the dirty path.
func (m *Mirror) degradeLocked(reason string) bool {
	if m.degraded != nil {
		return false
	}
	m.degraded = &meta.Degraded{Since: time.Now().UTC(), Reason: reason}
	m.degradedFlag.Store(true)
	return true
}

// foreignStats is the foreign writes' part of Stats.
func (c *counters) foreignStats() (int64, *ForeignWrite) {
	n := c.foreign.count.Load()
	if last := c.foreign.last.Load(); last != nil {
		w := *last
		return n, &w
	}
	return n, nil
}
