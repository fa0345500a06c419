package mirror

// Resync brings a degraded mirror back while the mount keeps serving.
//
// Invariants:
//   - A path is copied with the namespace lock held exclusively and, for a file, its write lock held,
//     so that no change to it can slip between the copy and the moment it counts as clean again.
//   - From the start of a resync, changes to clean paths reach the mirror again; changes to dirty paths
//     (or below a dirty directory) are still skipped and keep them dirty until they are copied.
//   - A failure of the mirror during resync stops it and leaves the mirror degraded, with the dirty
//     list complete.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"time"

	"github.com/mirrorctl/mirrorctl/host"
	"github.com/mirrorctl/mirrorctl/meta"
	"golang.org/x/sys/unix"
)

// ResyncAttempt is the outcome of the last resync.
type ResyncAttempt struct {
	At     time.Time     `json:"at"`
	Took   time.Duration `json:"took_ns"`
	Paths  int           `json:"paths"`
	Bytes  int64         `json:"bytes_copied"`
	Error  string        `json:"error,omitempty"`
	Whole  bool          `json:"whole"` // the mirror is in sync again
	Fresh  bool          `json:"fresh"` // the mirror directory was new: everything was copied
	Active bool          `json:"active,omitempty"`
	// Progress is how far the resync is, while it is active.
	Progress *ResyncProgress `json:"progress,omitempty"`
}

// ResyncProgress is how far a running resync is, for progress displays.
type ResyncProgress struct {
	PathsDone int `json:"paths_done"`
	PathsLeft int `json:"paths_left"` // dirty paths still to copy
	// BytesExamined counts the primary's bytes under the paths done so far and the one being copied
	// (compared, and copied where they differ); BytesTotal is their size when the resync started, so
	// it is an estimate of the total while the application keeps writing.
	BytesExamined int64 `json:"bytes_examined"`
	BytesTotal    int64 `json:"bytes_total"`
}

// ErrNotDegraded is returned by Resync when there is nothing to do.
var ErrNotDegraded = errors.New("the mirror is not degraded: nothing to resync")

// dirtyLocked reports whether rel, or a directory above it, is dirty.
func (m *Mirror) dirtyLocked(rel string) bool {
	for p := rel; ; p = path.Dir(p) {
		i := sort.SearchStrings(m.degraded.Dirty, p)
		if i < len(m.degraded.Dirty) && m.degraded.Dirty[i] == p {
			return true
		}
		if p == "." || p == "/" || p == "" {
			return false
		}
	}
}

// LastResync returns the outcome of the last resync.
func (m *Mirror) LastResync() ResyncAttempt {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.lastResync
	a.Active = m.resyncing
	if m.resyncing {
		p := m.resyncNow
		if m.degraded != nil {
			p.PathsLeft = len(m.degraded.Dirty)
		}
		a.Progress = &p
	}
	return a
}

// Resync copies every path the degraded marker names from the primary to the mirror, while changes
// go on, and returns the mirror to in sync. It stops at the first failure of the mirror.
func (m *Mirror) Resync(ctx context.Context) (ResyncAttempt, error) {
	a := ResyncAttempt{At: time.Now().UTC()}
	m.mu.Lock()
	switch {
	case m.degraded == nil:
		m.mu.Unlock()
		return a, ErrNotDegraded
	case m.resyncing || m.inResync:
		m.mu.Unlock()
		return a, errors.New("a resync is already running")
	}
	// From here the mirror just reopened must not be released under the resync (the mount lets go
	// of a degraded mirror's disk every second).
	m.inResync = true
	m.mu.Unlock()
	err := m.resync(ctx, &a)
	a.Took = time.Since(a.At)
	if err != nil {
		a.Error = err.Error()
	}
	m.mu.Lock()
	m.resyncing, m.inResync = false, false
	m.lastResync = a
	m.mu.Unlock()
	return a, err
}

func (m *Mirror) resync(ctx context.Context, a *ResyncAttempt) error {
	fresh, err := m.reopenTarget()
	if err != nil {
		return fmt.Errorf("the mirror %s is still unusable: %w", m.Target, err)
	}
	if !fresh {
		// First what the primary deleted while degraded: its copy may be what fills the mirror.
		if err := m.dropGoneDirty(a); err != nil {
			return fmt.Errorf("the mirror %s is still unusable: %w", m.Target, err)
		}
	}
	if err := m.probeMirror(); err != nil {
		return fmt.Errorf("the mirror %s is still unusable: %w", m.Target, err)
	}
	if fresh {
		// A new disk: nothing on it can be trusted, so everything is dirty, and the descriptors that
		// open files hold on the old disk are dropped (reopened on the new one once clean).
		a.Fresh = true
		m.mu.Lock()
		if m.degraded != nil {
			m.degraded.Dirty = []string{"."}
		}
		files := m.openFilesLocked()
		m.mu.Unlock()
		dropMirrors(files)
		m.dropCaptureMirrors()
		m.log.Info("the mirror directory is new or belongs to no one: resync copies everything", "mirror", m.Target)
	}
	total := m.dirtyBytes()
	// Switch to resyncing under the namespace lock: no change is between its two halves.
	m.ns.Lock()
	m.mu.Lock()
	m.resyncing = true
	m.resyncNow = ResyncProgress{BytesTotal: total}
	m.mu.Unlock()
	m.ns.Unlock()
	m.log.Info("resync started", "paths", len(m.Degraded().Dirty))
	copies := map[string]int{}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		m.mu.Lock()
		if m.degraded == nil || !m.resyncing {
			m.mu.Unlock()
			return errors.New("the mirror failed again during the resync: still degraded")
		}
		if len(m.degraded.Dirty) == 0 {
			m.degraded = nil
			m.degradedFlag.Store(false)
			m.resyncing = false
			m.mu.Unlock()
			a.Whole = true
			m.log.Info("resync complete: the mirror is in sync again", "paths", a.Paths, "bytes", a.Bytes)
			if err := m.recordServing(); err != nil {
				return err
			}
			if err := meta.ClearDegraded(m.Primary); err != nil {
				return fmt.Errorf("the mirror is in sync, but the degraded marker could not be removed: %w", err)
			}
			return m.syncDirtyDirs()
		}
		rel := m.degraded.Dirty[0]
		m.mu.Unlock()
		if copies[rel]++; copies[rel] > maxCopies {
			return fmt.Errorf("resync: %s keeps changing behind the mount's back (copied %d times): stop the process that writes the primary directly (status names it), then resync", rel, maxCopies)
		}
		n, err := m.resyncPath(rel)
		a.Bytes += n
		a.Paths++
		if err != nil {
			return err
		}
	}
}

// maxCopies is how often one resync copies a path that foreign writes keep dirty before it gives up.
const maxCopies = 100

// dirtyBytes adds up the sizes of the primary's files under the dirty paths, for progress.
func (m *Mirror) dirtyBytes() int64 {
	d := m.Degraded()
	if d == nil {
		return 0
	}
	var n int64
	for _, rel := range d.Dirty {
		st, err := m.primary.lstat(rel)
		switch {
		case err != nil || !m.policy.Mirrored(rel) && rel != ".":
		case fileType(&st) == unix.S_IFDIR:
			n += m.primaryBytes(rel)
		case fileType(&st) == unix.S_IFREG:
			n += st.Size
		}
	}
	return n
}

// resyncPath copies one dirty path and marks it clean, with every change to it held off meanwhile.
func (m *Mirror) resyncPath(rel string) (int64, error) {
	m.ns.Lock()
	defer m.ns.Unlock()
	var file *unix.Stat_t // the primary's file, when rel is one
	if st, err := m.primary.lstat(rel); err == nil && fileType(&st) == unix.S_IFREG {
		lk := &m.locks[st.Ino%uint64(len(m.locks))]
		lk.Lock()
		defer lk.Unlock()
		file = &st
	}
	var r SyncReport
	m.mu.Lock()
	before := m.resyncNow.BytesExamined
	m.copying, m.copyTouched = rel, false
	m.mu.Unlock()
	shown := func(done, _ int64) {
		m.mu.Lock()
		m.resyncNow.BytesExamined = before + done
		m.mu.Unlock()
	}
	if m.policy.Mirrored(rel) {
		sync := func() error { return m.syncPathWith(rel, &r, SyncOptions{Full: true, Progress: shown}) }
		if m.goneFromPrimary(rel) && !m.keep(rel, nil) {
			sync = func() error { return m.dropGone(rel) }
		}
		if err := sync(); err != nil {
			m.mirrorFailed("resync", rel, err)
			return r.BytesCopied, fmt.Errorf("resync %s: %w", rel, err)
		}
		if file != nil {
			m.captureResynced(file.Ino)
		}
	}
	if m.afterCopy != nil {
		m.afterCopy(rel)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resyncNow.BytesExamined = before + r.BytesExamined
	m.resyncNow.PathsDone++
	touched := m.copyTouched
	m.copying, m.copyTouched = "", false
	if m.degraded == nil || touched { // touched: copied again, the change may be newer than the copy
		return r.BytesCopied, nil
	}
	d := m.degraded.Dirty
	i := sort.SearchStrings(d, rel)
	if i < len(d) && d[i] == rel {
		m.degraded.Dirty = append(d[:i], d[i+1:]...)
		if err := meta.WriteDegraded(m.Primary, *m.degraded); err != nil {
			m.log.Warn("cannot update the degraded marker", "err", err)
		}
	}
	return r.BytesCopied, nil
}

// goneFromPrimary reports whether the primary no longer has rel (nor, it may be, a directory above it).
func (m *Mirror) goneFromPrimary(rel string) bool {
	_, err := m.primary.lstat(rel)
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)
}

// dropGone removes from the mirror a dirty path the primary no longer has, and makes the removal
// durable in the deepest directory above it the mirror still has: a dirty directory above it may
// have gone first.
func (m *Mirror) dropGone(rel string) error {
	if err := m.mirror.removeAll(rel); err != nil && !errors.Is(err, unix.ENOTDIR) {
		return err
	}
	for dir := parentDir(rel); ; dir = parentDir(dir) {
		err := m.mirror.syncDir(dir)
		if dir == "." || !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) {
			return err
		}
	}
}

// dropGoneDirty removes from the mirror, and marks clean, the dirty paths the primary no longer has,
// before anything is written to the mirror: a file deleted on the primary while degraded may be what
// filled the mirror's disk, and its partial copy is all that holds the space.
func (m *Mirror) dropGoneDirty(a *ResyncAttempt) error {
	d := m.Degraded()
	if d == nil {
		return nil
	}
	for _, rel := range d.Dirty {
		if !m.goneFromPrimary(rel) || !m.policy.Mirrored(rel) || m.keep(rel, nil) {
			continue
		}
		n, err := m.resyncPath(rel) // checks again with the namespace locked
		a.Bytes += n
		a.Paths++
		if err != nil {
			return err
		}
	}
	return nil
}

// probeMirror checks that the mirror accepts a durable write again.
func (m *Mirror) probeMirror() error {
	p := meta.Path(m.Target, "probe")
	if err := os.MkdirAll(path.Dir(p), 0o700); err != nil {
		return err
	}
	if err := meta.WriteFileDurable(p, []byte("ok\n")); err != nil {
		return err
	}
	return os.Remove(p)
}

// reopenTarget opens the mirror directory again: after a dead disk was replaced, the old descriptor
// names the dead file system. It reports whether the directory is fresh (no record of this primary).
func (m *Mirror) reopenTarget() (bool, error) {
	if err := m.checkTargetMounted(); err != nil {
		return false, err
	}
	if err := os.MkdirAll(m.Target, 0o755); err != nil {
		return false, err
	}
	t, err := openTree(m.Target)
	if err != nil {
		return false, err
	}
	// The record keeper follows the directory to its new file system before any change can reach
	// it there, so that no write of the old disk's record lands on the new one.
	rec, ok, err := m.record.Reload()
	m.ns.Lock()
	old := m.mirror
	m.mirror = t
	m.ns.Unlock()
	old.close()
	m.mu.Lock()
	m.released = false
	m.mu.Unlock()
	id, _, _ := meta.ReadIdentity(m.Primary)
	return err != nil || !ok || rec.PrimaryID != id.ID, nil
}

// recordServing writes the mirror's record after a resync: it mirrors the primary and is served.
func (m *Mirror) recordServing() error {
	id, _, err := meta.ReadIdentity(m.Primary)
	if err != nil {
		return err
	}
	err = m.record.Update(func(rec *meta.Record) {
		rec.PrimaryID, rec.PrimaryPath, rec.Generation = id.ID, m.Primary, id.Generation
		rec.State, rec.Clean, rec.PID, rec.BootID = meta.StateServing, false, os.Getpid(), host.BootID()
		rec.LastSync = time.Now().UTC()
		rec.Sealed = m.Sealed()
		if m.engine != "" {
			rec.Engine = m.engine
		}
	})
	if err != nil {
		return fmt.Errorf("record the resynced mirror: %w", err)
	}
	return nil
}
