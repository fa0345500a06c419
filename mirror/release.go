package mirror

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/mirrorctl/mirrorctl/host"
)

// A degraded mirror's disk is often only repairable after it is unmounted (xfs_repair, fsck, a
// cable). While the mount process holds descriptors on it the kernel refuses to unmount it, and a
// shut-down file system cannot be mounted again until its last descriptor is gone. So a degraded
// mount lets go of the mirror's file system (ReleaseTarget), keeps serving from the primary and
// recording what changed, and opens it again at the next resync.
//
// While the disk is unmounted, its mount point is an empty directory on another file system (often
// the root). A resync then must not create the mirror there and copy the whole environment onto the
// wrong disk: the mirror directory must be on the same mount point as when the mirror was opened
// (a new disk mounted there is fine).

// nearestExisting returns p or its closest ancestor that exists.
func nearestExisting(p string) string {
	for {
		if _, err := os.Lstat(p); err == nil || p == "/" || p == "." {
			return p
		}
		p = filepath.Dir(p)
	}
}

// checkTargetMounted refuses a mirror directory whose disk is not mounted where it was: the path
// would lead onto another file system.
func (m *Mirror) checkTargetMounted() error {
	if m.targetMount == "" {
		return nil
	}
	mp, err := host.MountPointOf(nearestExisting(m.Target))
	if err != nil {
		return fmt.Errorf("the mirror %s: %w", m.Target, err)
	}
	if mp != m.targetMount {
		return fmt.Errorf("the mirror's disk is not mounted at %s (%s is now on the file system mounted at %s): mount the repaired or a new disk at %s, then resync",
			m.targetMount, m.Target, mp, m.targetMount)
	}
	return nil
}

// ReleaseTarget closes every descriptor the Mirror holds on a degraded mirror's file system, so that
// the operator can unmount it; it reports whether it did. Changes keep being recorded in the degraded
// marker; Resync opens the mirror again.
func (m *Mirror) ReleaseTarget() bool {
	m.mu.Lock()
	if m.degraded == nil || m.resyncing || m.inResync || m.released {
		m.mu.Unlock()
		return false
	}
	m.released = true
	files := m.openFilesLocked()
	m.mu.Unlock()
	dropMirrors(files)
	m.dropCaptureMirrors()
	m.ns.Lock()
	old := m.mirror
	m.mirror = &tree{root: old.root, fd: -1} // every use fails with EBADF, and is recorded as dirty
	m.ns.Unlock()
	old.close()
	m.log.Info("released the degraded mirror's file system: it can be unmounted, repaired or replaced; then run mirrorctl resync", "mirror", m.Target)
	return true
}

// Released reports whether the mirror's file system was let go by ReleaseTarget and not yet reopened.
func (m *Mirror) Released() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.released
}

// openFilesLocked lists the open files; m.mu must be held.
func (m *Mirror) openFilesLocked() []*File {
	files := make([]*File, 0, len(m.open))
	for f := range m.open {
		files = append(files, f)
	}
	return files
}

// dropMirrors closes the mirror descriptors of files, each under its own lock (not m.mu).
func dropMirrors(files []*File) {
	for _, f := range files {
		f.dropMirror()
	}
}
