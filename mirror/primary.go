package mirror

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// The calls here read the primary for the FUSE layer, which serves lookups, attributes, listings and
// unmirrored files from it. They resolve paths the way every change does (beneath the root, from
// directory descriptors, at any depth), so that what the mount shows and what it changes are found
// the same way.

// statxFlags are the statx(2) flags a caller may choose; the final symbolic link is never followed.
const statxFlags = unix.AT_STATX_FORCE_SYNC | unix.AT_STATX_DONT_SYNC

// primaryStatx returns the attributes of rel on the primary (mask as for statx(2)), not following a
// symbolic link at rel itself.
func (m *Mirror) primaryStatx(rel string, flags, mask int) (unix.Statx_t, error) {
	var st unix.Statx_t
	flags = flags&statxFlags | unix.AT_SYMLINK_NOFOLLOW
	c, err := cleanRel(rel)
	if err != nil {
		return st, err
	}
	if c == "." {
		return st, unix.Statx(m.primary.fd, "", flags|unix.AT_EMPTY_PATH, mask, &st)
	}
	err = m.side(c).at(c, func(d int, n string) error { return unix.Statx(d, n, flags, mask, &st) })
	return st, err
}

// primaryLstat is lstat(2) of rel on the primary.
func (m *Mirror) primaryLstat(rel string) (unix.Stat_t, error) { return m.side(rel).lstat(rel) }

// primaryOpen opens rel on the primary (never following a symbolic link at rel) for a caller that
// owns the descriptor: directory listings and files that are not mirrored. With O_CREAT the new file
// gets owner o, and its directory counts as changed for the next directory fsync.
func (m *Mirror) primaryOpen(rel string, flags int, mode uint32, o Owner) (int, error) {
	if IsMeta(rel) {
		return -1, fmt.Errorf("open %s: %w", rel, unix.EPERM)
	}
	if flags&unix.O_CREAT != 0 {
		defer m.nsShared()()
		f, _, err := m.openPrimary(rel, flags, mode, o)
		if err != nil {
			return -1, err
		}
		return f.P, nil
	}
	fd, err := m.side(rel).open(rel, flags|unix.O_NOFOLLOW, 0)
	if err != nil {
		return -1, m.primaryFailed("open", rel, err)
	}
	return fd, nil
}

// primaryReadlink returns the target of the symbolic link rel on the primary.
func (m *Mirror) primaryReadlink(rel string) (string, error) { return m.side(rel).readlink(rel) }

// primaryGetxattr reads extended attribute attr of rel on the primary into dest (its size, with an
// empty dest); rel itself is not followed if it is a symbolic link.
func (m *Mirror) primaryGetxattr(rel, attr string, dest []byte) (int, error) {
	var sz int
	err := m.primaryEntry(rel, func(p string) (err error) {
		sz, err = unix.Lgetxattr(p, attr, dest)
		return err
	})
	return sz, err
}

// primaryListxattr lists the extended attribute names of rel on the primary into dest.
func (m *Mirror) primaryListxattr(rel string, dest []byte) (int, error) {
	var sz int
	err := m.primaryEntry(rel, func(p string) (err error) {
		sz, err = unix.Llistxattr(p, dest)
		return err
	})
	return sz, err
}

// primaryStatfs describes the primary's file system.
func (m *Mirror) primaryStatfs() (unix.Statfs_t, error) {
	var st unix.Statfs_t
	return st, unix.Fstatfs(m.primary.fd, &st)
}

// primaryEntry runs fn with a short path that names rel on the primary without following any
// symbolic link on the way (calls with no *at form: xattrs).
func (m *Mirror) primaryEntry(rel string, fn func(p string) error) error {
	c, err := cleanRel(rel)
	if err != nil {
		return err
	}
	if c == "." {
		return fn(procPath(m.primary.fd, ""))
	}
	return m.side(c).at(c, func(d int, n string) error { return fn(procPath(d, n)) })
}
