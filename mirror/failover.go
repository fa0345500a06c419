package mirror

// Failover without downtime: with PrimaryFailover, a primary whose disk proves dead is dropped while
// the mount serves, and the mirror, which holds every change the primary acknowledged, takes its
// place.
//
// Invariants:
//   - Every operation of the mount runs under failoverState.roles held shared (guard); the switch
//     holds it exclusively. So no operation is between its primary half and its mirror half when the
//     roles change: each one either finished on both sides before the switch, or runs again, whole,
//     after it, on the mirror alone. An operation that failed on the dead primary never reached the
//     mirror (the mirror half runs only after the primary's succeeded; a parallel large write is
//     simply written again), so running it again applies it exactly once.
//   - Only a mirror that is whole takes over: a degraded mirror misses changes, and the primary's
//     error is then the application's answer, as without failover.
//   - The switch is durable before any operation runs on the new side: the mirror's record says
//     promoted (with the time and the primary's error) and the mirror has a new identity of the next
//     generation, so the dead primary can never come back as this environment's primary (Claim and
//     promote refuse it), and a later start or promote knows what happened.
//   - After the switch the mount is degraded with everything dirty and no mirror: a resync onto a
//     new directory (AttachMirror) or onto the old primary's path once its disk was replaced brings
//     redundancy back, with the usual resync machinery.
//   - Guarded operations never call each other: a shared hold taken twice by one goroutine would
//     deadlock against a waiting switch.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mirrorctl/mirrorctl/host"
	"github.com/mirrorctl/mirrorctl/meta"
	"golang.org/x/sys/unix"
)

// PrimaryPolicy says what a dead primary does to the application.
type PrimaryPolicy int

const (
	// PrimaryFail returns the primary's error to the application (the default).
	PrimaryFail PrimaryPolicy = iota
	// PrimaryFailover switches the mount to serve from the mirror alone, completing the operation that
	// met the error there; the application is not told.
	PrimaryFailover
)

// ParsePrimaryPolicy parses the --on-primary-error value.
func ParsePrimaryPolicy(s string) (PrimaryPolicy, error) {
	switch s {
	case "fail", "":
		return PrimaryFail, nil
	case "failover":
		return PrimaryFailover, nil
	}
	return 0, fmt.Errorf("--on-primary-error %q is not a policy: use fail or failover", s)
}

// failoverState is the failover mode's part of a Mirror.
type failoverState struct {
	on bool // PrimaryFailover; set by Open, then read-only
	// roles is held shared by every operation (guard) and exclusively by the switch.
	roles sync.RWMutex
	lost  atomic.Bool // the primary was lost and the mirror serves alone
	// Guarded by Mirror.mu once lost is set: what the switch recorded.
	lostAt      time.Time
	lostCause   string
	lostPrimary string // the directory that was the primary
	pause       time.Duration
}

// PrimaryLoss describes a switch to the mirror.
type PrimaryLoss struct {
	At      time.Time     `json:"at"`
	Cause   string        `json:"cause"`   // the primary's error that caused it
	Primary string        `json:"primary"` // the directory that was lost
	Serving string        `json:"serving"` // the directory that serves now
	Pause   time.Duration `json:"pause_ns"`
}

// FailoverEnabled reports whether the mirror was opened with PrimaryFailover.
func (m *Mirror) FailoverEnabled() bool { return m.failover.on }

// PrimaryLost returns the switch to the mirror, or nil while the primary serves.
func (m *Mirror) PrimaryLost() *PrimaryLoss {
	if !m.failover.lost.Load() {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return &PrimaryLoss{At: m.failover.lostAt, Cause: m.failover.lostCause, Primary: m.failover.lostPrimary,
		Serving: m.Primary, Pause: m.failover.pause}
}

// Serving returns the directory the mount serves from: the primary, or the mirror after a switch.
func (m *Mirror) Serving() string {
	if !m.failover.on {
		return m.Primary
	}
	m.failover.roles.RLock()
	defer m.failover.roles.RUnlock()
	return m.Primary
}

// MirrorDir returns the mirror directory now: the one attached after the primary was lost, or the
// one the mount started with.
func (m *Mirror) MirrorDir() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.Target
}

// primaryGone reports whether err, met on the primary, says that its file system is gone: an I/O
// error, a file system shut down or turned read-only after errors, a network file system cut off.
// Per-file and transient errors (ENOSPC, EACCES, ENOENT) are not.
func primaryGone(err error) bool {
	var me *MirrorError
	if errors.As(err, &me) {
		return false
	}
	var e unix.Errno
	if !errors.As(err, &e) {
		return false
	}
	switch e {
	case unix.EIO, unix.EROFS, unix.ENOTCONN, unix.ESHUTDOWN, unix.ENODEV, unix.ENXIO:
		return true
	}
	return false
}

// guard runs op as one operation (see the invariants above); when op fails because the primary's
// disk is gone, it switches to the mirror and runs op again there, once.
func guard(m *Mirror, op func() error) error {
	_, err := guarded(m, func() (struct{}, error) { return struct{}{}, op() })
	return err
}

// guarded is guard for an operation with a result.
func guarded[T any](m *Mirror, op func() (T, error)) (T, error) {
	if !m.failover.on {
		return op()
	}
	for {
		m.failover.roles.RLock()
		lostBefore := m.failover.lost.Load()
		v, err := op()
		m.failover.roles.RUnlock()
		if err == nil || lostBefore || !primaryGone(err) || !m.switchToMirror(err) {
			return v, err
		}
	}
}

// switchToMirror makes the mirror the served tree after the primary failed with cause. It reports
// whether the mirror serves now (switched here or by another operation first).
func (m *Mirror) switchToMirror(cause error) bool {
	fo := &m.failover
	start := time.Now()
	fo.roles.Lock()
	defer fo.roles.Unlock()
	if fo.lost.Load() {
		return true
	}
	m.ns.Lock()
	defer m.ns.Unlock()
	m.mu.Lock()
	behind, released := m.degraded != nil, m.released
	m.mu.Unlock()
	if behind || released {
		m.log.Error("the primary failed, but the mirror is degraded (it misses changes) and cannot take over: the application gets the error",
			"primary", m.Primary, "err", cause)
		return false
	}
	if err := m.recordTakeover(cause); err != nil {
		m.log.Error("the primary failed, and the mirror could not record that it takes over: the application gets the error",
			"primary", m.Primary, "mirror", m.Target, "err", cause, "record_err", err)
		return false
	}
	dead, served := m.primary, m.mirror
	deadMount, _ := host.MountPointOf(dead.root)
	m.mu.Lock()
	for f := range m.handles {
		f.promoteMirror()
	}
	m.open = map[*File]struct{}{} // no file has a mirror descriptor any more
	m.intent.mu.Lock()
	m.intent.openers, m.intent.stale, m.intent.written = map[string]int{}, false, -1
	m.intent.mu.Unlock()
	m.primary, m.mirror = served, &tree{root: dead.root, fd: -1}
	m.Primary, m.Target = served.root, dead.root
	m.targetMount, m.released = deadMount, true
	now := time.Now().UTC()
	m.degraded = &meta.Degraded{Since: now, Reason: "the primary " + dead.root + " was lost (" + cause.Error() + "): serving from the mirror alone", Dirty: []string{"."}}
	m.degradedFlag.Store(true)
	fo.lostAt, fo.lostCause, fo.lostPrimary = now, cause.Error(), dead.root
	fo.pause = time.Since(start)
	fo.lost.Store(true)
	d := *m.degraded
	m.mu.Unlock()
	dead.close()
	m.record.retarget(dead.root)
	if err := meta.WriteDegraded(m.Primary, d); err != nil {
		m.log.Error("cannot record the missing mirror on the served directory", "err", err)
	}
	_ = os.Remove(meta.Path(m.Primary, intentFile)) // it named files of a mirror this no longer is
	m.stats.failovers.Add(1)
	m.log.Error("PRIMARY LOST: serving from the mirror alone; attach a new mirror (mirrorctl attach-mirror) to get redundancy back",
		"lost", dead.root, "serving", m.Primary, "err", cause, "pause", fo.pause)
	return true
}

// recordTakeover makes the switch durable on the mirror before it serves: its record says promoted
// (the time, the primary's error) and it gets the next generation's identity. The caller holds the
// roles exclusively.
func (m *Mirror) recordTakeover(cause error) error {
	rec, _, _ := m.record.Current()
	now := time.Now().UTC()
	err := m.record.Update(func(r *meta.Record) {
		r.State, r.PromotedAt, r.Clean = meta.StatePromoted, now, false
		r.PrimaryLost = cause.Error()
		r.PID, r.BootID = os.Getpid(), host.BootID()
	})
	if err != nil {
		return err
	}
	id := meta.NewGeneration(meta.Identity{ID: rec.PrimaryID, Generation: rec.Generation}, rec.PrimaryID)
	if err := meta.WriteIdentity(m.Target, id); err != nil {
		return fmt.Errorf("the new generation's identity: %w", err)
	}
	// Best effort: the dead primary's identity says it was superseded, should its disk come back.
	if old, ok, err := meta.ReadIdentity(m.Primary); err == nil && ok && old.ID == rec.PrimaryID {
		old.SupersededBy = fmt.Sprintf("%d (id %.8s, at %s, after the primary was lost)", id.Generation, id.ID, m.Target)
		_ = meta.WriteIdentity(m.Primary, old)
	}
	return nil
}

// promoteMirror makes f's mirror descriptor its primary one, at the switch (roles held exclusively).
// The dead primary's descriptor stays open until f closes, for a read the kernel may still be doing
// with it; a handle without a mirror descriptor keeps the dead one and fails from now on.
func (f *File) promoteMirror() {
	f.intent = false
	f.capture = nil
	if f.q < 0 {
		return
	}
	f.dead = append(f.dead, f.P)
	f.P, f.q = f.q, -1
	f.want = f.want && f.m.policy.Mirrored(f.Rel)
}

// AttachMirror points a mount whose primary was lost at a new mirror directory dir (empty, or absent
// below an existing directory), for a resync to fill; the served tree's entries come back there.
func (m *Mirror) AttachMirror(dir string) error {
	if !m.failover.lost.Load() {
		return fmt.Errorf("attach a mirror: the mount's mirror %s is in place; this is for a mount whose primary was lost (use mirrorctl resync)", m.Target)
	}
	abs, err := checkNewMirrorDir(dir, m.Serving())
	if err != nil {
		return err
	}
	mp, err := host.MountPointOf(nearestExisting(abs))
	if err != nil {
		return fmt.Errorf("attach a mirror: %w", err)
	}
	m.failover.roles.Lock()
	defer m.failover.roles.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.resyncing || m.inResync {
		return errors.New("attach a mirror: a resync is running")
	}
	m.Target, m.targetMount = abs, mp
	m.record.retarget(abs)
	return nil
}

// checkNewMirrorDir checks that dir can become the mirror of serving: not inside it or around it,
// and empty but for a metadata area.
func checkNewMirrorDir(dir, serving string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("attach a mirror: %w", err)
	}
	if overlaps(abs, serving) {
		return "", fmt.Errorf("attach a mirror: %s and the served directory %s lie inside one another: give a directory on another disk", abs, serving)
	}
	ents, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return abs, nil
	case err != nil:
		return "", fmt.Errorf("attach a mirror: %w", err)
	}
	for _, e := range ents {
		if e.Name() != meta.Dir {
			return "", fmt.Errorf("attach a mirror: %s is not empty (it holds %s): give an empty directory on the new disk", abs, e.Name())
		}
	}
	return abs, nil
}

// overlaps reports whether one of the directories a and b is the other or lies below it.
func overlaps(a, b string) bool {
	below := func(p, dir string) bool {
		rel, err := filepath.Rel(dir, p)
		return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
	}
	return below(a, b) || below(b, a)
}
