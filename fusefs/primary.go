package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/mirrorctl/mirrorctl/mirror"
	"golang.org/x/sys/unix"
)

// The loopback's own lookups, attributes, listings, link reads, xattr reads and opens of unmirrored
// files build one absolute path string per call, which the kernel refuses once it reaches PATH_MAX,
// although the mount has no such limit (an application reaches deeper entries relative to its
// current directory). Here they are served through the mirror core's descriptor-based resolution
// instead, so that every entry the mount can create, it can also find, show and open.

var (
	_ = (fs.NodeGetattrer)((*node)(nil))
	_ = (fs.NodeStatxer)((*node)(nil))
	_ = (fs.NodeReadlinker)((*node)(nil))
	_ = (fs.NodeGetxattrer)((*node)(nil))
	_ = (fs.NodeListxattrer)((*node)(nil))
	_ = (fs.NodeStatfser)((*node)(nil))
	_ = (fs.NodeReaddirer)((*node)(nil))
)

// statBasics is what a lookup or getattr asks of statx(2); the birth time gives go-fuse's loopback
// its inode generation, and is asked for the same way here.
const statBasics = unix.STATX_BASIC_STATS | unix.STATX_BTIME

func statFromStatx(x *unix.Statx_t) syscall.Stat_t {
	var st syscall.Stat_t
	st.Dev = unix.Mkdev(x.Dev_major, x.Dev_minor)
	st.Ino = x.Ino
	st.Nlink = uint64(x.Nlink)
	st.Mode = uint32(x.Mode)
	st.Uid, st.Gid = x.Uid, x.Gid
	st.Rdev = unix.Mkdev(x.Rdev_major, x.Rdev_minor)
	st.Size = int64(x.Size)
	st.Blksize = int64(x.Blksize)
	st.Blocks = int64(x.Blocks)
	st.Atim = syscall.Timespec{Sec: x.Atime.Sec, Nsec: int64(x.Atime.Nsec)}
	st.Mtim = syscall.Timespec{Sec: x.Mtime.Sec, Nsec: int64(x.Mtime.Nsec)}
	st.Ctim = syscall.Timespec{Sec: x.Ctime.Sec, Nsec: int64(x.Ctime.Nsec)}
	return st
}

// stableAttr is the inode identity go-fuse's loopback gives an entry (LoopbackRoot.idFromStat): the
// inode number mixed with the device, and the birth time as generation.
func (n *node) stableAttr(x *unix.Statx_t) fs.StableAttr {
	dev := uint64(unix.Mkdev(x.Dev_major, x.Dev_minor))
	swapped := dev<<32 | dev>>32
	rootDev := n.RootData.Dev<<32 | n.RootData.Dev>>32
	gen := uint64(1)
	if x.Mask&unix.STATX_BTIME != 0 && (x.Btime.Sec != 0 || x.Btime.Nsec != 0) {
		gen = uint64(x.Btime.Sec)*1e9 + uint64(x.Btime.Nsec)
	}
	return fs.StableAttr{Mode: uint32(x.Mode), Gen: gen, Ino: (swapped ^ rootDev) ^ x.Ino}
}

// lookupNew builds the inode of entry name, for a lookup or right after a change created it.
func (n *node) lookupNew(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	x, err := n.m.PrimaryStatx(n.rel(name), 0, statBasics)
	if err != nil {
		return nil, toErrno(err)
	}
	st := statFromStatx(&x)
	out.Attr.FromStat(&st)
	child := &fs.LoopbackNode{RootData: n.RootData} // WrapChild makes it a node
	id := n.stableAttr(&x)
	if n.m.PrimaryLost() != nil {
		// The mirror serves now, whose inodes have other numbers. Every change of a name comes
		// through this mount, so a name it knows still names the file it knew: keep that inode,
		// and its number, which an application may have noted (SQLite compares it).
		if known := n.GetChild(name); known != nil && known.StableAttr().Mode&syscall.S_IFMT == id.Mode&syscall.S_IFMT {
			id = known.StableAttr()
		}
	}
	return n.NewInode(ctx, child, id), 0
}

func (n *node) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if g, ok := fh.(fs.FileGetattrer); ok {
		return g.Getattr(ctx, out)
	}
	x, err := n.m.PrimaryStatx(n.self(), 0, statBasics)
	if err != nil {
		return toErrno(err)
	}
	st := statFromStatx(&x)
	out.FromStat(&st)
	return 0
}

func (n *node) Statx(ctx context.Context, fh fs.FileHandle, flags, mask uint32, out *fuse.StatxOut) syscall.Errno {
	if s, ok := fh.(fs.FileStatxer); ok {
		return s.Statx(ctx, flags, mask, out)
	}
	x, err := n.m.PrimaryStatx(n.self(), int(flags), int(mask))
	if err != nil {
		return toErrno(err)
	}
	out.FromStatx(&x)
	return 0
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	target, err := n.m.PrimaryReadlink(n.self())
	if err != nil {
		return nil, toErrno(err)
	}
	return []byte(target), 0
}

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	sz, err := n.m.PrimaryGetxattr(n.self(), attr, dest)
	return uint32(sz), toErrno(err)
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	sz, err := n.m.PrimaryListxattr(n.self(), dest)
	return uint32(sz), toErrno(err)
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	st, err := n.m.PrimaryStatfs()
	if err != nil {
		return toErrno(err)
	}
	out.Blocks, out.Bfree, out.Bavail = st.Blocks, st.Bfree, st.Bavail
	out.Files, out.Ffree = st.Files, st.Ffree
	out.Bsize, out.Frsize = uint32(st.Bsize), uint32(st.Frsize)
	out.NameLen = uint32(st.Namelen)
	return 0
}

// dirStream opens this directory on the primary for listing.
func (n *node) dirStream() (fs.DirStream, syscall.Errno) {
	fd, err := n.m.PrimaryOpen(n.self(), unix.O_RDONLY|unix.O_DIRECTORY, 0, mirror.Owner{})
	if err != nil {
		return nil, toErrno(err)
	}
	ds, errno := fs.NewLoopbackDirStreamFd(fd)
	if errno != 0 || !n.m.HasRebuiltDir() {
		return ds, errno
	}
	return n.withRebuilt(ds)
}

// withRebuilt lists this directory as the mount shows it with a rebuilt-files directory: the
// primary's entries but for rebuilt names, which are listed from the rebuilt-files directory.
func (n *node) withRebuilt(ds fs.DirStream) (fs.DirStream, syscall.Errno) {
	defer ds.Close()
	var list []fuse.DirEntry
	for ds.HasNext() {
		e, errno := ds.Next()
		if errno != 0 {
			return nil, errno
		}
		if e.Name != "." && e.Name != ".." && n.m.IsRebuilt(n.rel(e.Name)) {
			continue
		}
		list = append(list, e)
	}
	extra, err := n.m.RebuiltEntries(n.self())
	if err != nil {
		return nil, toErrno(err)
	}
	for _, e := range extra {
		list = append(list, fuse.DirEntry{Name: e.Name, Mode: e.Mode, Ino: e.Ino})
	}
	return fs.NewListDirStream(list), 0
}

func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) { return n.dirStream() }

// openUnmirrored opens a file that is not mirrored (an engine's region file) straight on the
// primary; its handle may use kernel passthrough, since nothing of it reaches the mirror.
func (n *node) openUnmirrored(rel string, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	flags &^= syscall.O_APPEND | fuse.FMODE_EXEC
	fd, err := n.m.PrimaryOpen(rel, int(flags), 0, mirror.Owner{})
	if err != nil {
		return nil, 0, toErrno(err)
	}
	return fs.NewLoopbackFile(fd), 0, 0
}

// createUnmirrored creates a file that is not mirrored, owned by the caller, like go-fuse's loopback.
func (n *node) createUnmirrored(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	flags &^= syscall.O_APPEND
	fd, err := n.m.PrimaryOpen(n.rel(name), int(flags)|unix.O_CREAT, mode&07777, owner(ctx))
	if err != nil {
		return nil, nil, 0, toErrno(err)
	}
	ch, errno := n.lookupNew(ctx, name, out)
	if errno != 0 {
		unix.Close(fd)
		return nil, nil, 0, errno
	}
	return ch, fs.NewLoopbackFile(fd), 0, 0
}
