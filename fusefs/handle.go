package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/mirrorctl/mirrorctl/mirror"
)

// mirroredFile is the handle of a mirrored file. It deliberately does not implement
// fs.FilePassthroughFder: with kernel passthrough the kernel would write the primary's file itself and
// the mirror would never see the write. Read-only opens of mirrored files use it too, because the
// kernel refuses to mix passthrough and cached opens of one inode, unless Options.PassthroughReads
// gives them passthroughReadFile (see iomode.go).
type mirroredFile struct {
	f    *mirror.File
	done func() // uncounts the open in ioModes; nil when not counted
}

var (
	_ = (fs.FileReader)((*mirroredFile)(nil))
	_ = (fs.FileWriter)((*mirroredFile)(nil))
	_ = (fs.FileFsyncer)((*mirroredFile)(nil))
	_ = (fs.FileFlusher)((*mirroredFile)(nil))
	_ = (fs.FileReleaser)((*mirroredFile)(nil))
	_ = (fs.FileGetattrer)((*mirroredFile)(nil))
	_ = (fs.FileAllocater)((*mirroredFile)(nil))
	_ = (fs.FileLseeker)((*mirroredFile)(nil))
)

func (h *mirroredFile) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if h.f.FailoverEnabled() {
		// Read here, not by the kernel's splice after the reply: a read the dying primary fails
		// is then served by the mirror instead.
		n, err := h.f.ReadAt(dest, off)
		if err != nil {
			return nil, toErrno(err)
		}
		return fuse.ReadResultData(dest[:n]), 0
	}
	return fuse.ReadResultFd(uintptr(h.f.P), off, len(dest)), 0
}

// Write reaches the primary and then the mirror before it returns; a cancelled request context is
// ignored on purpose, so a change is never left half-mirrored.
func (h *mirroredFile) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n, err := h.f.WriteAt(data, off)
	return uint32(n), toErrno(err)
}

// Fsync returns only when both sides are durable (or the mirror is marked degraded, by policy).
func (h *mirroredFile) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return toErrno(h.f.Sync(flags&fsyncFdatasync != 0))
}

// Flush is called at every close(2) of a descriptor; like the loopback, close a dup of the primary
// descriptor so that errors of a network file system show, and keep the handle open.
func (h *mirroredFile) Flush(ctx context.Context) syscall.Errno {
	return toErrno(h.f.Flush())
}

func (h *mirroredFile) Release(ctx context.Context) syscall.Errno {
	err := h.f.Close()
	if h.done != nil {
		h.done()
	}
	return toErrno(err)
}

func (h *mirroredFile) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	st, err := h.f.Stat()
	if err != nil {
		return toErrno(err)
	}
	out.FromStat(&st)
	return 0
}

func (h *mirroredFile) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) syscall.Errno {
	return toErrno(h.f.Allocate(mode, int64(off), int64(size)))
}

func (h *mirroredFile) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	n, err := h.f.Seek(int64(off), int(whence))
	return uint64(n), toErrno(err)
}

// fsyncFdatasync is FUSE_FSYNC_FDATASYNC: the application called fdatasync, not fsync.
const fsyncFdatasync = 1
