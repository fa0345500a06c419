package fusefs

import (
	"context"
	"path"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/mirrorctl/mirrorctl/meta"
	"github.com/mirrorctl/mirrorctl/mirror"
	"golang.org/x/sys/unix"
)

// node is a loopback node whose changes go through the mirror. Reads, lookups and listings are the
// loopback's own.
type node struct {
	*fs.LoopbackNode
	m     *mirror.Mirror
	modes *ioModes // shared by every node of the mount
}

var (
	_ = (fs.NodeWrapChilder)((*node)(nil))
	_ = (fs.NodeLookuper)((*node)(nil))
	_ = (fs.NodeOpendirHandler)((*node)(nil))
	_ = (fs.NodeMkdirer)((*node)(nil))
	_ = (fs.NodeMknoder)((*node)(nil))
	_ = (fs.NodeSymlinker)((*node)(nil))
	_ = (fs.NodeLinker)((*node)(nil))
	_ = (fs.NodeUnlinker)((*node)(nil))
	_ = (fs.NodeRmdirer)((*node)(nil))
	_ = (fs.NodeRenamer)((*node)(nil))
	_ = (fs.NodeCreater)((*node)(nil))
	_ = (fs.NodeOpener)((*node)(nil))
	_ = (fs.NodeSetattrer)((*node)(nil))
	_ = (fs.NodeSetxattrer)((*node)(nil))
	_ = (fs.NodeRemovexattrer)((*node)(nil))
	_ = (fs.NodeCopyFileRanger)((*node)(nil))
	_ = (fs.NodeTmpfiler)((*node)(nil))
	_ = (fs.NodeFsyncer)((*node)(nil))
)

// WrapChild makes every node below the root a mirroring node too.
func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &node{LoopbackNode: ops.(*fs.LoopbackNode), m: n.m, modes: n.modes}
}

func (n *node) isRoot() bool { return n.EmbeddedInode() == n.Root() }

// rel is the path of child name relative to the root, as the mirror core wants it.
func (n *node) rel(name string) string {
	return path.Join(n.Path(n.Root()), name)
}

func (n *node) self() string {
	p := n.Path(n.Root())
	if p == "" {
		return "."
	}
	return p
}

// hidden reports whether name in this directory is the metadata area.
func (n *node) hidden(name string) bool { return name == meta.Dir && n.isRoot() }

func owner(ctx context.Context) mirror.Owner {
	if c, ok := fuse.FromContext(ctx); ok {
		return mirror.Owner{UID: int(c.Uid), GID: int(c.Gid), Set: true}
	}
	return mirror.Owner{}
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.hidden(name) {
		return nil, syscall.ENOENT
	}
	ch, errno := n.lookupNew(ctx, name, out)
	if errno == syscall.EIO {
		n.m.NotePrimaryError("lookup", n.rel(name), errno)
	}
	return ch, errno
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.hidden(name) {
		return nil, syscall.EPERM
	}
	if err := n.m.Mkdir(n.rel(name), mode&07777, owner(ctx)); err != nil {
		return nil, toErrno(err)
	}
	return n.lookupNew(ctx, name, out)
}

func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.hidden(name) {
		return nil, syscall.EPERM
	}
	if err := n.m.Mknod(n.rel(name), mode, int(rdev), owner(ctx)); err != nil {
		return nil, toErrno(err)
	}
	return n.lookupNew(ctx, name, out)
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.hidden(name) {
		return nil, syscall.EPERM
	}
	if err := n.m.Symlink(target, n.rel(name), owner(ctx)); err != nil {
		return nil, toErrno(err)
	}
	return n.lookupNew(ctx, name, out)
}

func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if n.hidden(name) {
		return nil, syscall.EPERM
	}
	t, ok := target.(*node)
	if !ok {
		return nil, syscall.EXDEV
	}
	if _, parent := t.EmbeddedInode().Parent(); parent == nil {
		return nil, syscall.EXDEV // an O_TMPFILE or orphaned inode has no path to link from
	}
	if err := n.m.Link(t.self(), n.rel(name)); err != nil {
		return nil, toErrno(err)
	}
	return n.lookupNew(ctx, name, out)
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	if n.hidden(name) {
		return syscall.EPERM
	}
	return toErrno(n.m.Unlink(n.rel(name)))
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	if n.hidden(name) {
		return syscall.EPERM
	}
	return toErrno(n.m.Rmdir(n.rel(name)))
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	if n.hidden(name) || np.hidden(newName) {
		return syscall.EPERM
	}
	return toErrno(n.m.Rename(n.rel(name), np.rel(newName), uint(flags)))
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if n.hidden(name) {
		return nil, nil, 0, syscall.EPERM
	}
	rel := n.rel(name)
	if !n.m.Mirrored(rel) {
		return n.createUnmirrored(ctx, name, flags, mode, out)
	}
	f, err := n.m.OpenFile(rel, int(flags)|unix.O_CREAT, mode&07777, owner(ctx))
	if err != nil {
		return nil, nil, 0, toErrno(err)
	}
	ch, errno := n.lookupNew(ctx, name, out)
	if errno != 0 {
		f.Close()
		return nil, nil, 0, errno
	}
	iom, done, err := n.modes.admit(ch.StableAttr().Ino, true, n.logPassthroughOpen(rel, flags, int64(mode)))
	if err != nil { // a new file has no readers; only a hard link to a held inode could get here
		f.Close()
		return nil, nil, 0, toErrno(err)
	}
	h := &mirroredFile{f: f, done: done}
	if iom == ioPassthrough {
		ph, err := passthroughHandle(h, true)
		if err != nil {
			f.Close()
			done()
			return nil, nil, 0, toErrno(err)
		}
		return ch, ph, 0, 0
	}
	return ch, h, fuse.FOPEN_KEEP_CACHE, 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	rel := n.self()
	if !n.m.Mirrored(rel) {
		return n.openUnmirrored(rel, flags) // may use kernel passthrough: nothing to mirror
	}
	flags &^= fuse.FMODE_EXEC
	writable := flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 || flags&syscall.O_TRUNC != 0
	mode, done, err := n.modes.admit(n.EmbeddedInode().StableAttr().Ino, writable, n.logPassthroughOpen(rel, flags, -1))
	if err != nil {
		n.m.NoteRefusal(rel, err)
		return nil, 0, toErrno(err)
	}
	f, err := n.m.OpenFile(rel, int(flags), 0, mirror.Owner{})
	if err != nil {
		done()
		return nil, 0, toErrno(err)
	}
	h := &mirroredFile{f: f, done: done}
	if mode == ioPassthrough {
		ph, err := passthroughHandle(h, writable)
		if err != nil {
			f.Close()
			done()
			return nil, 0, toErrno(err)
		}
		return ph, 0, 0
	}
	return h, fuse.FOPEN_KEEP_CACHE, 0
}

// passthroughHandle wraps h, admitted in passthrough mode, for the kernel: a reader reads the
// primary directly; a writer (of a log, see logpass.go) is captured first.
func passthroughHandle(h *mirroredFile, writable bool) (fs.FileHandle, error) {
	if !writable {
		return &passthroughReadFile{*h}, nil
	}
	if err := h.f.Capture(); err != nil {
		return nil, err
	}
	return &passthroughLogFile{*h}, nil
}

// Tmpfile is refused: an O_TMPFILE file has no name to mirror until linkat, which FUSE cannot tie back
// to it. Applications fall back to a named temporary file.
func (n *node) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EOPNOTSUPP
}

// CopyFileRange answers ENOSYS, so the kernel copies with reads and writes through the mount, which
// the mirror sees; a direct copy between the backing files would bypass it.
func (n *node) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

func timespec(t time.Time) *unix.Timespec {
	ts := unix.NsecToTimespec(t.UnixNano())
	return &ts
}

// setAttr converts a SETATTR request. UTIME_NOW is resolved once, here, so both sides get one time.
func setAttr(in *fuse.SetAttrIn) mirror.SetAttr {
	var a mirror.SetAttr
	if m, ok := in.GetMode(); ok {
		m &= 07777
		a.Mode = &m
	}
	if u, ok := in.GetUID(); ok {
		v := int(u)
		a.UID = &v
	}
	if g, ok := in.GetGID(); ok {
		v := int(g)
		a.GID = &v
	}
	if s, ok := in.GetSize(); ok {
		v := int64(s)
		a.Size = &v
	}
	if t, ok := in.GetATime(); ok {
		a.Atime = timespec(t)
	}
	if t, ok := in.GetMTime(); ok {
		a.Mtime = timespec(t)
	}
	return a
}

func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	a := setAttr(in)
	var err error
	if mf, ok := fh.(*mirroredFile); ok {
		err = mf.f.Setattr(a)
	} else {
		err = n.m.Setattr(n.self(), a)
	}
	if err != nil {
		return toErrno(err)
	}
	return n.Getattr(ctx, fh, out)
}

func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return toErrno(n.m.Setxattr(n.self(), attr, data, int(flags)))
}

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return toErrno(n.m.Removexattr(n.self(), attr))
}

// Fsync without a file handle (FSYNC on a node the kernel has no handle for) syncs by path.
func (n *node) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	if fs, ok := fh.(interface {
		Fsync(context.Context, uint32) syscall.Errno
	}); ok {
		return fs.Fsync(ctx, flags)
	}
	return toErrno(n.m.SyncDir(n.self()))
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	ds, errno := n.dirStream()
	if errno != 0 {
		return nil, 0, errno
	}
	return &dirHandle{inner: ds, n: n, hideMeta: n.isRoot()}, 0, 0
}
