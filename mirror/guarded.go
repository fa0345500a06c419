package mirror

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// The entry points of the mount's operations. Each runs its operation through guard (failover.go):
// without PrimaryFailover that is a direct call; with it, the operation holds the roles shared and,
// if the primary's disk proves gone, runs again on the mirror once it took over. The operations
// themselves (lower-case, beside their helpers) never call an entry point.

// Mkdir creates directory rel on both sides.
func (m *Mirror) Mkdir(rel string, mode uint32, o Owner) error {
	return guard(m, func() error { return m.mkdir(rel, mode, o) })
}

// Mknod creates a special file on both sides.
func (m *Mirror) Mknod(rel string, mode uint32, dev int, o Owner) error {
	return guard(m, func() error { return m.mknod(rel, mode, dev, o) })
}

// Symlink creates symbolic link rel pointing at target on both sides. The target is stored as text and
// never followed by mirrorctl.
func (m *Mirror) Symlink(target, rel string, o Owner) error {
	return guard(m, func() error { return m.symlink(target, rel, o) })
}

// Unlink removes file rel on both sides.
func (m *Mirror) Unlink(rel string) error { return guard(m, func() error { return m.unlink(rel) }) }

// Rmdir removes directory rel on both sides.
func (m *Mirror) Rmdir(rel string) error { return guard(m, func() error { return m.rmdir(rel) }) }

// Rename renames oldRel to newRel with renameat2 flags on both sides (see rename).
func (m *Mirror) Rename(oldRel, newRel string, flags uint) error {
	return guard(m, func() error { return m.rename(oldRel, newRel, flags) })
}

// Link gives the file oldRel the new name newRel on both sides (see link).
func (m *Mirror) Link(oldRel, newRel string) error {
	return guard(m, func() error { return m.link(oldRel, newRel) })
}

// Setattr changes rel's attributes on both sides by path.
func (m *Mirror) Setattr(rel string, a SetAttr) error {
	return guard(m, func() error { return m.setattr(rel, a) })
}

// Setxattr sets an extended attribute on both sides.
func (m *Mirror) Setxattr(rel, attr string, data []byte, flags int) error {
	return guard(m, func() error { return m.setxattr(rel, attr, data, flags) })
}

// Removexattr removes an extended attribute on both sides.
func (m *Mirror) Removexattr(rel, attr string) error {
	return guard(m, func() error { return m.removexattr(rel, attr) })
}

// SyncDir makes directory rel, and every directory whose entries changed since its last fsync, durable
// on both sides.
func (m *Mirror) SyncDir(rel string) error { return guard(m, func() error { return m.syncDir(rel) }) }

// OpenFile opens rel on the primary and, when it is mirrored and opened for writing (or, with
// PrimaryFailover, at all), on the mirror. With O_CREAT the file is created on both sides with the
// owner o.
func (m *Mirror) OpenFile(rel string, flags int, mode uint32, o Owner) (*File, error) {
	return guarded(m, func() (*File, error) { return m.openFile(rel, flags, mode, o) })
}

// PrimaryStatx returns the attributes of rel on the primary (mask as for statx(2)), not following a
// symbolic link at rel itself.
func (m *Mirror) PrimaryStatx(rel string, flags, mask int) (unix.Statx_t, error) {
	return guarded(m, func() (unix.Statx_t, error) { return m.primaryStatx(rel, flags, mask) })
}

// PrimaryLstat is lstat(2) of rel on the primary.
func (m *Mirror) PrimaryLstat(rel string) (unix.Stat_t, error) {
	return guarded(m, func() (unix.Stat_t, error) { return m.primaryLstat(rel) })
}

// PrimaryOpen opens rel on the primary for a caller that owns the descriptor (see primaryOpen).
func (m *Mirror) PrimaryOpen(rel string, flags int, mode uint32, o Owner) (int, error) {
	return guarded(m, func() (int, error) { return m.primaryOpen(rel, flags, mode, o) })
}

// PrimaryReadlink returns the target of the symbolic link rel on the primary.
func (m *Mirror) PrimaryReadlink(rel string) (string, error) {
	return guarded(m, func() (string, error) { return m.primaryReadlink(rel) })
}

// PrimaryGetxattr reads extended attribute attr of rel on the primary into dest (its size, with an
// empty dest); rel itself is not followed if it is a symbolic link.
func (m *Mirror) PrimaryGetxattr(rel, attr string, dest []byte) (int, error) {
	return guarded(m, func() (int, error) { return m.primaryGetxattr(rel, attr, dest) })
}

// PrimaryListxattr lists the extended attribute names of rel on the primary into dest.
func (m *Mirror) PrimaryListxattr(rel string, dest []byte) (int, error) {
	return guarded(m, func() (int, error) { return m.primaryListxattr(rel, dest) })
}

// PrimaryStatfs describes the primary's file system.
func (m *Mirror) PrimaryStatfs() (unix.Statfs_t, error) {
	return guarded(m, func() (unix.Statfs_t, error) { return m.primaryStatfs() })
}

// WriteAt writes data at off on the primary, then the same bytes at the same offset on the mirror.
func (f *File) WriteAt(data []byte, off int64) (int, error) {
	return guarded(f.m, func() (int, error) { return f.writeAt(data, off) })
}

// FailoverEnabled reports whether f's mirror was opened with PrimaryFailover.
func (f *File) FailoverEnabled() bool { return f.m.failover.on }

// ReadAt reads from the primary's file (the mirror's once it took over) into dest.
func (f *File) ReadAt(dest []byte, off int64) (int, error) {
	return guarded(f.m, func() (int, error) {
		n, err := unix.Pread(f.P, dest, off)
		if err != nil {
			return 0, f.m.primaryFailed("read", f.Rel, err)
		}
		return n, nil
	})
}

// Stat is fstat(2) of the file being served.
func (f *File) Stat() (syscall.Stat_t, error) {
	return guarded(f.m, func() (st syscall.Stat_t, err error) { return st, syscall.Fstat(f.P, &st) })
}

// Seek is lseek(2) of the served descriptor (SEEK_DATA and SEEK_HOLE for the kernel's lseek).
func (f *File) Seek(off int64, whence int) (int64, error) {
	return guarded(f.m, func() (int64, error) { return unix.Seek(f.P, off, whence) })
}

// Flush closes a duplicate of the served descriptor, so that the errors a network file system keeps
// for close(2) show.
func (f *File) Flush() error {
	return guard(f.m, func() error {
		if err := f.CaptureNow(); err != nil { // a log served by passthrough (logpass.go)
			return err
		}
		fd, err := unix.Dup(f.P)
		if err != nil {
			return err
		}
		return unix.Close(fd)
	})
}

// Truncate sets the size on both sides.
func (f *File) Truncate(size int64) error {
	return guard(f.m, func() error { return f.truncate(size) })
}

// Allocate runs fallocate (including hole punching) on both sides.
func (f *File) Allocate(mode uint32, off, length int64) error {
	return guard(f.m, func() error { return f.allocate(mode, off, length) })
}

// Setattr changes attributes through the open descriptors, so it works on unlinked files too.
func (f *File) Setattr(a SetAttr) error { return guard(f.m, func() error { return f.setattr(a) }) }

// Sync makes the file durable on both sides (see sync).
func (f *File) Sync(datasync bool) error { return guard(f.m, func() error { return f.sync(datasync) }) }

// Close gives the mirror the primary's timestamps and closes both descriptors. It is not run again
// after a switch: a file's close on a lost primary has nothing to complete.
func (f *File) Close() error {
	if !f.m.failover.on {
		return f.close()
	}
	f.m.failover.roles.RLock()
	defer f.m.failover.roles.RUnlock()
	return f.close()
}
