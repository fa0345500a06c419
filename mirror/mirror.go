package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mirrorctl/mirrorctl/host"
	"github.com/mirrorctl/mirrorctl/meta"
	"golang.org/x/sys/unix"
)

// ErrorPolicy says what a failure of the mirror does to the application.
type ErrorPolicy int

const (
	// Degrade keeps the application running on the primary, marks the mirror degraded durably (on the
	// primary side) and records every path that changes from then on, for a later resync.
	Degrade ErrorPolicy = iota
	// Fail returns the mirror's error to the application.
	Fail
)

// ParseErrorPolicy parses the --on-mirror-error value.
func ParseErrorPolicy(s string) (ErrorPolicy, error) {
	switch s {
	case "degrade", "":
		return Degrade, nil
	case "fail":
		return Fail, nil
	}
	return 0, fmt.Errorf("--on-mirror-error %q is not a policy: use degrade or fail", s)
}

// Owner is who creates a file; applied on both sides when mirrorctl runs as root.
type Owner struct {
	UID, GID int
	Set      bool
}

// Mirror applies changes to the primary and then to the mirror. All methods are safe for concurrent
// use. Relative paths are slash-separated and must not be in the metadata area.
//
// Its state is grouped by concern; each group names what guards it. The groups are embedded where
// other files use their fields, so that m.degraded or m.ns reads as before.
type Mirror struct {
	Primary string // absolute path of the primary directory
	Target  string // absolute path of the mirror directory

	// The two sides and how a change reaches them, set by Open. mirror is replaced (ReleaseTarget,
	// Resync) only with ns held exclusively.
	primary, mirror *tree
	rebuilt         *tree // Options.RebuiltDir; nil without
	policy          Policy
	onError         ErrorPolicy
	log             *slog.Logger

	writeOrder // locks and ns: the order in which changes reach both sides
	telemetry  // counters and the rate limits of error logging; safe for concurrent use

	record *recordKeeper // the one writer of the mirror's record (mirror.json) while it is open

	// Log sealing and retention (logs.go). sealed, currentLog and currentNum are guarded by mu.
	logs       LogNamer
	retention  Retention
	neededFrom func(ctx context.Context) (uint32, error)
	engine     string        // Options.Engine
	sealQueue  chan string   // logs to seal, in order; the sealer goroutine receives, logCreated sends
	sealDone   chan struct{} // closed when the sealer goroutine has ended
	// sealMu guards sending on sealQueue and sealStopped: once Drain set sealStopped and closed the
	// queue (and retainStop), nothing is sent on it again.
	sealMu      sync.Mutex
	sealStopped bool
	// The background retention pass (logs.go): unlinks of logs wake it, Drain closes retainStop.
	retainWake chan struct{}
	retainStop chan struct{}
	retainDone chan struct{}

	sealed     map[string]string // sealed log file -> SHA-256
	currentLog string            // the newest log file created through the mount
	currentNum uint32

	// mu guards the health of the mirror (degradedState, but for its atomic flag and targetMount),
	// the files open for writing, and sealed, currentLog and currentNum just above.
	mu sync.Mutex
	degradedState
	open map[*File]struct{} // files open for writing on the mirror
	// handles are all open files, with PrimaryFailover only: the switch gives each its mirror
	// descriptor.
	handles map[*File]struct{}

	failover failoverState // PrimaryFailover (failover.go)

	captures    captureSet  // files the kernel writes directly (capture.go); own mutex
	captureHook CaptureHook // set before serving, then read-only

	intent   openIntents  // files open for writing, as the intent record names them; own mutex
	unsynced unsyncedDirs // directories whose entries changed since their last fsync; own mutex
}

// writeOrder serialises the two halves of a change, so that both sides see changes in one order.
type writeOrder struct {
	locks [64]sync.Mutex // striped by primary inode: serialises each primary+mirror write pair
	// ns is held shared by every namespace change and exclusively by a resync of one path, so that a
	// path cannot change while it is copied.
	ns sync.RWMutex
}

// telemetry is what the Mirror counts and how often it logs its errors.
type telemetry struct {
	stats         counters
	failLogged    rateLimit // the fail policy logs its errors at most once a minute
	refusalLogged rateLimit // and the mount's own refusals too
}

// degradedState is whether the mirror missed changes, and the resync that brings it back. Guarded by
// Mirror.mu, but for degradedFlag (atomic) and targetMount (set by Open, then read-only).
type degradedState struct {
	degradedFlag atomic.Bool    // mirrors degraded != nil, for the write path's fast check
	degraded     *meta.Degraded // non-nil once the mirror missed a change
	resyncing    bool           // a resync is copying dirty paths; the others reach the mirror again
	inResync     bool           // a call of Resync runs, from reopening the mirror on: no release, no second one
	lastResync   ResyncAttempt
	resyncNow    ResyncProgress // how far the running resync is; meaningful while resyncing
	// copying is the dirty path resyncPath is copying; copyTouched says a foreign change reached it
	// (or a path above or below it) meanwhile, which the copy may have missed: it then stays dirty.
	copying     string
	copyTouched bool
	afterCopy   func(rel string) // tests only: runs between a path's copy and its marking clean
	released    bool             // ReleaseTarget let go of the degraded mirror's file system
	targetMount string           // mount point of the mirror's file system when opened (see release.go)
}

// Options are the optional settings of Open.
type Options struct {
	OnError ErrorPolicy
	Logger  *slog.Logger
	// Logs recognises the engine's log files: they are sealed at rotation and retained on the mirror
	// after the primary removes them.
	Logs LogNamer
	// Retention says how long retained logs are kept; the zero value keeps them all.
	Retention Retention
	// NeededFrom returns the first log number that normal recovery of the mirror needs: retention never
	// drops that log or a later one, and drops none when NeededFrom fails (its context has a timeout).
	// It is called off the request path, once per retention pass.
	NeededFrom func(ctx context.Context) (uint32, error)
	// OnPrimaryError says what a dead primary does: PrimaryFailover lets the mirror take over online.
	OnPrimaryError PrimaryPolicy
	// RebuiltDir, when set, holds the files the engine rebuilds (the Policy's RebuiltPolicy names
	// them), instead of the primary: they are served from there at their own names (rebuilt.go).
	RebuiltDir string
	// Engine is the engine the mirror's record names (meta.Record.Engine): a record written anew
	// after the mirror's disk was replaced names it too. "": the record's is kept as it is.
	Engine string
}

// Open prepares a Mirror between two existing directories.
func Open(primary, target string, policy Policy, o Options) (*Mirror, error) {
	p, err := openTree(primary)
	if err != nil {
		return nil, fmt.Errorf("primary: %w", err)
	}
	q, err := openTree(target)
	if err != nil {
		p.close()
		return nil, fmt.Errorf("mirror: %w", err)
	}
	lg := o.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	m := &Mirror{
		Primary: p.root, Target: q.root, primary: p, mirror: q, policy: policy,
		onError: o.OnError, log: lg,
		logs: o.Logs, retention: o.Retention, neededFrom: o.NeededFrom, engine: o.Engine, sealed: map[string]string{},
		open: map[*File]struct{}{}, intent: openIntents{openers: map[string]int{}, written: -1},
		handles: map[*File]struct{}{}, failover: failoverState{on: o.OnPrimaryError == PrimaryFailover},
	}
	if o.RebuiltDir != "" {
		if m.rebuilt, err = openRebuilt(o.RebuiltDir, p.root, q.root); err != nil {
			p.close()
			q.close()
			return nil, err
		}
	}
	m.targetMount, _ = host.MountPointOf(q.root)
	m.record = keepRecord(q.root)
	if rec, ok, err := m.record.Current(); err == nil && ok {
		m.sealed = rec.Sealed
		if m.sealed == nil {
			m.sealed = map[string]string{}
		}
	}
	if m.logs != nil {
		m.startSealer()
		if !m.retention.All() {
			m.startRetention()
		}
	}
	m.stats.started = time.Now()
	if d, ok, err := meta.ReadDegraded(p.root); err != nil {
		m.Close()
		return nil, err
	} else if ok {
		m.degraded = &d
		m.degradedFlag.Store(true)
	}
	return m, nil
}

// close waits for pending seals and releases the trees' descriptors.
func (m *Mirror) Close() error {
	m.Drain()
	return errors.Join(m.primary.close(), m.mirror.close(), m.rebuilt.close())
}

// Mirrored reports whether rel reaches the mirror.
func (m *Mirror) Mirrored(rel string) bool { return m.policy.Mirrored(rel) }

// meta.Degraded returns the degraded marker, or nil when the mirror is whole.
func (m *Mirror) Degraded() *meta.Degraded {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.degraded == nil {
		return nil
	}
	d := *m.degraded
	d.Dirty = append([]string(nil), d.Dirty...)
	return &d
}

// MirrorError is a failure of the mirror side of an operation; the primary side succeeded.
type MirrorError struct {
	Op, Rel string
	Err     error
}

func (e *MirrorError) Error() string {
	return fmt.Sprintf("mirror %s %s: %v", e.Op, e.Rel, e.Err)
}
func (e *MirrorError) Unwrap() error { return e.Err }

// skipMirror tells whether the mirror half of a change to rel must be skipped because the mirror is
// degraded; if so it records rel as dirty. While a resync runs, only dirty paths (and what lies below
// a dirty directory) are skipped.
func (m *Mirror) skipMirror(rel string) bool {
	if !m.degradedFlag.Load() {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.degraded == nil {
		return false
	}
	if m.resyncing && !m.dirtyLocked(rel) {
		return false
	}
	m.addDirtyLocked(rel)
	return true
}

// addDirtyLocked records rel in the degraded marker, durably, the first time it changes.
func (m *Mirror) addDirtyLocked(rel string) {
	i := sort.SearchStrings(m.degraded.Dirty, rel)
	if i < len(m.degraded.Dirty) && m.degraded.Dirty[i] == rel {
		return
	}
	m.degraded.Dirty = append(m.degraded.Dirty, "")
	copy(m.degraded.Dirty[i+1:], m.degraded.Dirty[i:])
	m.degraded.Dirty[i] = rel
	if err := meta.WriteDegraded(m.Primary, *m.degraded); err != nil {
		m.log.Error("cannot record a changed path in the degraded marker", "path", rel, "err", err)
	}
}

// mirrorFailed applies the error policy to a failure of the mirror side of op on rel.
func (m *Mirror) mirrorFailed(op, rel string, err error) error {
	m.stats.mirrorErrors.Add(1)
	if m.onError == Fail {
		if ok, suppressed := m.failLogged.allow(time.Now(), time.Minute); ok {
			m.log.Error("mirror failed; returning the error to the application", "op", op, "path", rel, "err", err,
				"errors_not_logged", suppressed)
		}
		return &MirrorError{Op: op, Rel: rel, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.resyncing {
		m.resyncing = false
		m.log.Error("mirror failed during resync: resync stopped", "op", op, "path", rel, "err", err)
	}
	if m.degradeLocked((&MirrorError{Op: op, Rel: rel, Err: err}).Error()) {
		m.log.Error("mirror failed: now DEGRADED, serving from the primary alone; run resync once the mirror disk is back", "op", op, "path", rel, "err", err)
	}
	m.addDirtyLocked(rel)
	return nil
}

// nsShared holds the namespace lock shared until the returned function is called.
func (m *Mirror) nsShared() func() {
	m.ns.RLock()
	return m.ns.RUnlock
}

// apply runs fn on the primary and, if that succeeded and rel is mirrored, on the mirror.
func (m *Mirror) apply(op, rel string, fn func(t *tree) error) error {
	if IsMeta(rel) {
		return fmt.Errorf("%s %s: the metadata area is not writable through the mount: %w", op, rel, unix.EPERM)
	}
	m.stats.inFlight.Add(1)
	defer m.stats.inFlight.Add(-1)
	if err := fn(m.side(rel)); err != nil {
		return m.primaryFailed(op, rel, err)
	}
	if !m.policy.Mirrored(rel) || m.skipMirror(rel) {
		return nil
	}
	if err := fn(m.mirror); err != nil {
		return m.mirrorFailed(op, rel, err)
	}
	m.stats.ops.Add(1)
	return nil
}

// dirChanged notes that the entries of the directories holding rels changed.
func (m *Mirror) dirChanged(rels ...string) {
	m.unsynced.add(rels...)
}

func parentDir(rel string) string {
	d := path.Dir(rel)
	if d == "" {
		return "."
	}
	return d
}

func (o Owner) apply(t *tree, rel string) error {
	if !o.Set || os.Geteuid() != 0 {
		return nil
	}
	return t.lchown(rel, o.UID, o.GID)
}

// mkdir creates directory rel on both sides.
func (m *Mirror) mkdir(rel string, mode uint32, o Owner) error {
	defer m.nsShared()()
	defer m.dirChanged(rel)
	return m.apply("mkdir", rel, func(t *tree) error {
		if err := t.mkdir(rel, mode); err != nil {
			return err
		}
		return o.apply(t, rel)
	})
}

// mknod creates a special file on both sides.
func (m *Mirror) mknod(rel string, mode uint32, dev int, o Owner) error {
	defer m.nsShared()()
	defer m.dirChanged(rel)
	return m.apply("mknod", rel, func(t *tree) error {
		if err := t.mknod(rel, mode, dev); err != nil {
			return err
		}
		return o.apply(t, rel)
	})
}

// symlink creates symbolic link rel pointing at target on both sides. The target is stored as text and
// never followed by mirrorctl.
func (m *Mirror) symlink(target, rel string, o Owner) error {
	defer m.nsShared()()
	defer m.dirChanged(rel)
	return m.apply("symlink", rel, func(t *tree) error {
		if err := t.symlink(target, rel); err != nil {
			return err
		}
		return o.apply(t, rel)
	})
}

// unlink removes file rel on both sides.
func (m *Mirror) unlink(rel string) error {
	defer m.nsShared()()
	if _, ok := m.isLog(rel); ok && m.policy.Mirrored(rel) {
		return m.unlinkLog(rel)
	}
	defer m.dirChanged(rel)
	return m.apply("unlink", rel, func(t *tree) error { return t.unlink(rel) })
}

// rmdir removes directory rel on both sides.
func (m *Mirror) rmdir(rel string) error {
	defer m.nsShared()()
	defer m.dirChanged(rel)
	return m.apply("rmdir", rel, func(t *tree) error { return t.rmdir(rel) })
}

// rename renames oldRel to newRel with renameat2 flags on both sides. When the two names fall on
// different sides of the policy, the mirror drops the old name or receives a fresh copy of the new;
// such a rename is refused with EXDEV when what it moves has other hard links (crossPolicy), and so is
// a rename of a directory between mirrored names that changes the side of what lies below it
// (keepsSides).
func (m *Mirror) rename(oldRel, newRel string, flags uint) error {
	if IsMeta(newRel) || IsMeta(oldRel) {
		return unix.EPERM
	}
	if err := m.sameSide("rename", oldRel, newRel); err != nil {
		return err
	}
	oldIn, newIn := m.policy.Mirrored(oldRel), m.policy.Mirrored(newRel)
	var check func(oldRel, newRel string, flags uint) error
	switch {
	case oldIn != newIn:
		check = m.crossPolicy
	case oldIn && dependsOnPath(m.policy) && m.movesDirectory(oldRel, newRel, flags):
		check = m.keepsSides
	}
	if check == nil {
		defer m.nsShared()()
	} else {
		// Held exclusively, so that nothing is linked or created below what the check walked until the
		// rename is done on both sides. Such renames are rare; a database never makes one.
		m.ns.Lock()
		defer m.ns.Unlock()
		if err := check(oldRel, newRel, flags); err != nil {
			m.NoteRefusal(oldRel, err)
			return err // before anything is written: the trees and the degraded marker stay as they were
		}
	}
	defer m.dirChanged(oldRel, newRel)
	if m.degradedFlag.Load() {
		// Both names are dirty, or neither: a resync must never see one side of a rename.
		m.mu.Lock()
		if m.degraded != nil && (!m.resyncing || m.dirtyLocked(oldRel) || m.dirtyLocked(newRel)) {
			m.addDirtyLocked(oldRel)
			m.addDirtyLocked(newRel)
		}
		m.mu.Unlock()
	}
	if oldIn == newIn {
		if err := m.apply("rename", newRel, func(t *tree) error { return t.rename(oldRel, newRel, flags) }); err != nil {
			return err
		}
		return m.intentRename(oldRel, newRel)
	}
	if err := m.primary.rename(oldRel, newRel, flags); err != nil {
		return err
	}
	if flags&unix.RENAME_EXCHANGE != 0 {
		return errors.Join(m.refresh("rename", oldRel), m.refresh("rename", newRel))
	}
	if oldIn {
		return m.mirrorOnly("rename", oldRel, func(t *tree) error { return t.removeAll(oldRel) })
	}
	return m.refresh("rename", newRel)
}

// crossPolicy checks a rename of oldRel to newRel whose names lie on different sides of the policy:
// it must not give an inode a name on the other side while it keeps a name on its own, for writes
// through the excluded name would reach the primary alone (a mirrored inode stays mirrored under
// every name). So what moves (oldRel, and newRel too for RENAME_EXCHANGE; a directory with all that
// lies below it) must have no hard link outside itself; if it has, the rename is refused with EXDEV,
// as between two file systems, and mv falls back to copying, which gives the new name an inode of its
// own. The caller holds ns exclusively.
func (m *Mirror) crossPolicy(oldRel, newRel string, flags uint) error {
	moved := []string{oldRel}
	if flags&unix.RENAME_EXCHANGE != 0 {
		moved = append(moved, newRel)
	}
	for _, rel := range moved {
		linked, err := m.linkedOutside(rel)
		if errors.Is(err, unix.ENOENT) {
			continue // the primary's rename reports the missing name
		}
		if err != nil {
			return fmt.Errorf("rename %s to %s: %w", oldRel, newRel, err)
		}
		if linked != "" {
			return fmt.Errorf("rename %s to %s: %s has hard links elsewhere, and only one of the two names is mirrored; "+
				"a mirrored file must stay mirrored under every name, so copy it instead (mv does): %w",
				oldRel, newRel, linked, unix.EXDEV)
		}
	}
	return nil
}

// movesDirectory reports whether the rename moves a directory on the primary. The kernel holds the
// parent directories of both names locked during the request, so the answer holds until it is done.
func (m *Mirror) movesDirectory(oldRel, newRel string, flags uint) bool {
	isDir := func(rel string) bool {
		st, err := m.primary.lstat(rel)
		return err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
	}
	return isDir(oldRel) || (flags&unix.RENAME_EXCHANGE != 0 && isDir(newRel))
}

// keepsSides checks a rename of a directory between two mirrored names: a policy that matches whole
// paths (a glob with a slash, such as "scratch/*") may exclude an entry below the new name that was
// mirrored below the old one, or the other way round, and the mirror's rename alone cannot follow
// (it would keep a copy the policy now excludes, or lack one it now mirrors), nor could a hard link
// of that entry stay on one side. Such a rename is refused with EXDEV; mv then copies entry by
// entry, each by its new name. It is asked only of a policy that depends on paths (dependsOnPath):
// under one of base names no entry can change sides. The caller holds ns exclusively.
func (m *Mirror) keepsSides(oldRel, newRel string, flags uint) error {
	moves := [][2]string{{oldRel, newRel}}
	if flags&unix.RENAME_EXCHANGE != 0 {
		moves = append(moves, [2]string{newRel, oldRel})
	}
	for _, mv := range moves {
		changed, err := m.sideChanged(mv[0], mv[1])
		if errors.Is(err, unix.ENOENT) {
			continue // the primary's rename reports the missing name
		}
		if err != nil {
			return fmt.Errorf("rename %s to %s: %w", oldRel, newRel, err)
		}
		if changed != "" {
			return fmt.Errorf("rename %s to %s: %s would change between mirrored and excluded under the new name; "+
				"copy the directory instead (mv does): %w", oldRel, newRel, changed, unix.EXDEV)
		}
	}
	return nil
}

// sideChanged returns the first entry below directory from on the primary whose policy differs when
// it lies below to instead ("" when none does, or when from is not a directory). What is excluded
// under both names is not descended into: all that lies below it is excluded under both.
func (m *Mirror) sideChanged(from, to string) (string, error) {
	st, err := m.primary.lstat(from)
	if err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return "", err
	}
	var walk func(sub string) (string, error)
	walk = func(sub string) (string, error) {
		ents, err := m.primary.readDir(path.Join(from, sub))
		if err != nil {
			return "", err
		}
		for _, e := range ents {
			x := path.Join(sub, e.Name())
			in := m.policy.Mirrored(path.Join(from, x))
			if in != m.policy.Mirrored(path.Join(to, x)) {
				return path.Join(from, x), nil
			}
			if in && e.IsDir() {
				if changed, err := walk(x); changed != "" || err != nil {
					return changed, err
				}
			}
		}
		return "", nil
	}
	return walk(".")
}

// linkedOutside returns the first file at or below rel on the primary that has a hard link outside
// rel's subtree ("" when none has), so that moving rel would leave its inode with names elsewhere.
func (m *Mirror) linkedOutside(rel string) (string, error) {
	type inode struct{ dev, ino uint64 }
	type names struct {
		first        string
		found, nlink uint64
	}
	linked := map[inode]*names{} // the files below rel with more than one name
	var walk func(rel string) error
	walk = func(rel string) error {
		st, err := m.primary.lstat(rel)
		if err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if st.Nlink > 1 {
				k := inode{uint64(st.Dev), st.Ino}
				if linked[k] == nil {
					linked[k] = &names{first: rel, nlink: uint64(st.Nlink)}
				}
				linked[k].found++
			}
			return nil
		}
		ents, err := m.primary.readDir(rel)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := walk(path.Join(rel, e.Name())); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(rel); err != nil {
		return "", err
	}
	var outside []string
	for _, n := range linked {
		if n.nlink > n.found {
			outside = append(outside, n.first)
		}
	}
	if len(outside) == 0 {
		return "", nil
	}
	sort.Strings(outside)
	return outside[0], nil
}

// link makes newRel a hard link of oldRel on both sides. A link whose two names lie on different sides
// of the policy is refused with EXDEV, as between two file systems: the inode would be mirrored under
// one name and not under the other, so writes through the excluded name would reach the primary alone.
func (m *Mirror) link(oldRel, newRel string) error {
	if IsMeta(oldRel) || IsMeta(newRel) {
		return fmt.Errorf("link %s to %s: the metadata area is not writable through the mount: %w", oldRel, newRel, unix.EPERM)
	}
	if err := m.sameSide("link", oldRel, newRel); err != nil {
		return err
	}
	if m.policy.Mirrored(oldRel) != m.policy.Mirrored(newRel) {
		err := fmt.Errorf("link %s to %s: only one of the two names is mirrored; a mirrored file must stay mirrored "+
			"under every name, so copy it instead of linking: %w", oldRel, newRel, unix.EXDEV)
		m.NoteRefusal(newRel, err)
		return err
	}
	defer m.nsShared()()
	defer m.dirChanged(newRel)
	return m.apply("link", newRel, func(t *tree) error { return t.link(oldRel, newRel) })
}

// mirrorOnly runs the mirror half of an operation whose primary half already succeeded.
func (m *Mirror) mirrorOnly(op, rel string, fn func(t *tree) error) error {
	if m.skipMirror(rel) {
		return nil
	}
	if err := fn(m.mirror); err != nil {
		return m.mirrorFailed(op, rel, err)
	}
	m.stats.ops.Add(1)
	return nil
}

// refresh copies rel from the primary to the mirror (or removes it there) as a whole.
func (m *Mirror) refresh(op, rel string) error {
	if !m.policy.Mirrored(rel) {
		return nil
	}
	return m.mirrorOnly(op, rel, func(*tree) error {
		var r SyncReport
		return m.syncPath(rel, true, &r, nil)
	})
}

// SetAttr is a change of attributes; nil fields are left alone.
type SetAttr struct {
	Mode         *uint32
	UID, GID     *int
	Size         *int64
	Atime, Mtime *unix.Timespec // UTIME_NOW and UTIME_OMIT are honoured
}

func (a SetAttr) times() []unix.Timespec {
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
	if a.Atime != nil {
		ts[0] = *a.Atime
	}
	if a.Mtime != nil {
		ts[1] = *a.Mtime
	}
	return ts
}

func ownerArgs(a SetAttr) (int, int) {
	uid, gid := -1, -1
	if a.UID != nil {
		uid = *a.UID
	}
	if a.GID != nil {
		gid = *a.GID
	}
	return uid, gid
}

// setattr changes rel's attributes on both sides by path.
func (m *Mirror) setattr(rel string, a SetAttr) error {
	defer m.nsShared()()
	return m.apply("setattr", rel, func(t *tree) error {
		if a.Mode != nil {
			if err := t.chmod(rel, *a.Mode); err != nil {
				return err
			}
		}
		if a.UID != nil || a.GID != nil {
			uid, gid := ownerArgs(a)
			if err := t.lchown(rel, uid, gid); err != nil {
				return err
			}
		}
		// Truncate before setting times, so an explicit mtime is not clobbered.
		if a.Size != nil {
			if err := t.truncate(rel, *a.Size); err != nil {
				return err
			}
			if t == m.primary && m.captures.n.Load() > 0 {
				if st, err := t.lstat(rel); err == nil {
					m.captureTruncated(st.Ino, *a.Size)
				}
			}
		}
		if a.Atime != nil || a.Mtime != nil {
			return t.utimens(rel, a.times())
		}
		return nil
	})
}

// setxattr sets an extended attribute on both sides.
func (m *Mirror) setxattr(rel, attr string, data []byte, flags int) error {
	defer m.nsShared()()
	return m.apply("setxattr", rel, func(t *tree) error { return t.setxattr(rel, attr, data, flags) })
}

// removexattr removes an extended attribute on both sides.
func (m *Mirror) removexattr(rel, attr string) error {
	defer m.nsShared()()
	return m.apply("removexattr", rel, func(t *tree) error { return t.removexattr(rel, attr) })
}

// syncDir makes directory rel, and every directory whose entries changed since its last fsync, durable
// on both sides.
func (m *Mirror) syncDir(rel string) error {
	m.dirChanged(path.Join(rel, "x"))
	return m.syncDirtyDirs()
}

// syncDirtyDirs fsyncs every directory whose entries changed, on both sides in parallel.
func (m *Mirror) syncDirtyDirs() error {
	dirs := m.unsynced.take()
	if len(dirs) == 0 {
		return nil
	}
	var failed []string
	var firstErr error
	for _, d := range dirs {
		err := m.both("fsync-dir", d, func(t *tree) error {
			err := t.syncDir(d)
			if errors.Is(err, unix.ENOENT) {
				return nil // removed since: nothing to make durable
			}
			return err
		})
		if err != nil {
			failed = append(failed, d)
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	m.unsynced.restore(failed)
	return firstErr
}

// unsyncedDirs is the set of directories whose entries changed since their last fsync.
type unsyncedDirs struct {
	mu   sync.Mutex // guards dirs
	dirs map[string]struct{}
}

// add records the directories holding rels.
func (u *unsyncedDirs) add(rels ...string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.dirs == nil {
		u.dirs = map[string]struct{}{}
	}
	for _, rel := range rels {
		u.dirs[parentDir(rel)] = struct{}{}
	}
}

// take empties the set and returns what it held.
func (u *unsyncedDirs) take() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.dirs) == 0 {
		return nil
	}
	dirs := make([]string, 0, len(u.dirs))
	for d := range u.dirs {
		dirs = append(dirs, d)
	}
	clear(u.dirs)
	return dirs
}

// restore puts back directories whose fsync failed, for the next sync to retry.
func (u *unsyncedDirs) restore(dirs []string) {
	if len(dirs) == 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.dirs == nil {
		u.dirs = map[string]struct{}{}
	}
	for _, d := range dirs {
		u.dirs[d] = struct{}{}
	}
}

// both runs a durability step on the primary and the mirror at the same time and applies the error
// policy to the mirror's result.
func (m *Mirror) both(op, rel string, fn func(t *tree) error) error {
	var perr, qerr error
	primary := func() {
		start := time.Now()
		perr = fn(m.primary)
		m.stats.primarySync.observe(time.Since(start))
	}
	if m.policy.Mirrored(rel) && !m.skipMirror(rel) {
		alongside(primary, func() {
			start := time.Now()
			qerr = fn(m.mirror)
			m.stats.mirrorSync.observe(time.Since(start))
		})
	} else {
		primary()
	}
	if perr != nil {
		return perr
	}
	if qerr != nil {
		return m.mirrorFailed(op, rel, qerr)
	}
	return nil
}

// rateLimit lets one event through per interval and counts the others, so that a failing disk under
// load gives a log line a minute, not one per write.
type rateLimit struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int64
}

// allow reports whether an event at now may be logged, and how many were held back since the last.
func (r *rateLimit) allow(now time.Time, every time.Duration) (bool, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.last.IsZero() && now.Sub(r.last) < every {
		r.suppressed++
		return false, 0
	}
	n := r.suppressed
	r.last, r.suppressed = now, 0
	return true, n
}
