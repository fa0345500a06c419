package fusefs

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
)

// With Options.PassthroughReads, a read-only open of a mirrored file may use kernel passthrough, so
// that reads run at the speed of the primary's file system. Writes never do: they must reach the
// daemon to be mirrored.
//
// The kernel keeps one I/O mode per inode: while a passthrough open exists, every other open of the
// same inode must be passthrough too (a cached one, and on 6.18 also a FOPEN_DIRECT_IO one, fails
// with EIO), and while a cached open exists no passthrough open is allowed. So, per inode:
//
//   - a read-only open takes passthrough if no open for writing exists, else it is cached;
//   - an open for writing is cached if no passthrough reader exists, else it is refused with
//     ETXTBSY ("text file busy"), which the kernel would otherwise turn into EIO. That is the price
//     of the option, and why it is off by default: a writer cannot open a file while a reader that
//     came first still has it open.
//
// The daemon counts an open when it answers it and uncounts it at RELEASE, which the kernel sends
// after it dropped its own count: the daemon's counts are never below the kernel's, so it never asks
// for a mode the kernel would refuse. The kernel sends RELEASE asynchronously, after close(2) has
// returned, so an open for writing that meets passthrough opens first waits up to releaseGrace for
// their RELEASE: an application that closes its reader and then opens the file for writing is not
// refused for a request still in flight.

type ioMode int

const (
	ioCached ioMode = iota
	ioPassthrough
)

type ioCounts struct{ cached, passthrough int }

// ioModes tracks the open modes of the inodes of one mount.
type ioModes struct {
	enabled atomic.Bool // passthrough reads were asked for and the kernel offers passthrough
	logs    atomic.Bool // log passthrough was asked for and the kernel offers passthrough (logpass.go)
	mu      sync.Mutex
	inodes  map[uint64]*ioCounts // by FUSE inode number (StableAttr.Ino): hard links share one
	// released is closed, and replaced, at every release: admit waits on it for passthrough opens
	// whose RELEASE is still in flight.
	released chan struct{}
}

// releaseGrace bounds how long an open for writing waits for the RELEASE of passthrough opens that
// the application may already have closed.
const releaseGrace = 250 * time.Millisecond

func newIOModes() *ioModes {
	return &ioModes{inodes: map[uint64]*ioCounts{}, released: make(chan struct{})}
}

// admit chooses the mode of a new open of ino and counts it; the returned function uncounts it.
// log says the open may be served by passthrough for writing too: an engine log, opened without
// O_SYNC/O_DSYNC (see logpass.go). It refuses an open for writing that must not be passthrough while
// passthrough opens hold the inode.
func (m *ioModes) admit(ino uint64, writable, log bool) (ioMode, func(), error) {
	if m == nil || !m.enabled.Load() && !m.logs.Load() {
		return ioCached, func() {}, nil
	}
	log = log && m.logs.Load()
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.counts(ino)
	if writable && !log && c.passthrough > 0 {
		c = m.awaitReleases(ino)
	}
	mode := ioCached
	switch {
	case log && c.cached == 0:
		mode = ioPassthrough
	case !writable && c.passthrough > 0:
		mode = ioPassthrough // the kernel allows no cached open beside a passthrough one
	case !writable && m.enabled.Load() && c.cached == 0:
		mode = ioPassthrough
	case writable && c.passthrough > 0:
		if m.logs.Load() && !m.enabled.Load() {
			return 0, nil, errSyncWriterWhileLogPassthrough
		}
		return 0, nil, errWriterWhilePassthroughReaders
	}
	if mode == ioPassthrough {
		c.passthrough++
	} else {
		c.cached++
	}
	var once sync.Once
	return mode, func() { once.Do(func() { m.release(ino, mode) }) }, nil
}

// errWriterWhilePassthroughReaders refuses an open for writing of a file that read-only openers
// hold in kernel passthrough mode (--passthrough-reads).
var errWriterWhilePassthroughReaders = fmt.Errorf("open for writing refused: read-only openers hold the file in kernel passthrough mode (--passthrough-reads); retry once they closed it, or mount without --passthrough-reads: %w", syscall.ETXTBSY)

// errSyncWriterWhileLogPassthrough refuses an open of a log for writing with O_SYNC/O_DSYNC (or of a
// hard link of it under another name) while other opens hold the log in kernel passthrough mode,
// whose synchronous writes would bypass the mirror.
var errSyncWriterWhileLogPassthrough = fmt.Errorf("open for writing refused: other descriptors hold this log in kernel passthrough mode, where an O_SYNC/O_DSYNC write would bypass the mirror; open it without O_SYNC/O_DSYNC, or mount with --log-passthrough=false: %w", syscall.ETXTBSY)

// counts returns the counts of ino, created empty when it has none. Called with m.mu held.
func (m *ioModes) counts(ino uint64) *ioCounts {
	c := m.inodes[ino]
	if c == nil {
		c = &ioCounts{}
		m.inodes[ino] = c
	}
	return c
}

// awaitReleases waits, up to releaseGrace, for the passthrough opens of ino to be released, and
// returns its counts then. Called with m.mu held; it releases the lock while waiting.
func (m *ioModes) awaitReleases(ino uint64) *ioCounts {
	timeout := time.NewTimer(releaseGrace)
	defer timeout.Stop()
	for c := m.counts(ino); c.passthrough > 0; c = m.counts(ino) {
		released := m.released
		m.mu.Unlock()
		select {
		case <-released:
			m.mu.Lock()
		case <-timeout.C:
			m.mu.Lock()
			return m.counts(ino)
		}
	}
	return m.counts(ino)
}

func (m *ioModes) release(ino uint64, mode ioMode) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.inodes[ino]
	if c == nil {
		return
	}
	if mode == ioPassthrough {
		c.passthrough--
	} else {
		c.cached--
	}
	if *c == (ioCounts{}) {
		delete(m.inodes, ino)
	}
	close(m.released)
	m.released = make(chan struct{})
}

// passthroughReadFile is the handle of a read-only open of a mirrored file that the kernel serves
// by passthrough from the primary's file. It has no Write: the kernel never sends one for a
// read-only descriptor.
type passthroughReadFile struct {
	mirroredFile
}

var _ = (fs.FilePassthroughFder)((*passthroughReadFile)(nil))

// PassthroughFd hands the kernel the primary's descriptor, opened read-only.
func (h *passthroughReadFile) PassthroughFd() (int, bool) { return h.f.P, true }

func (h *passthroughReadFile) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	return 0, syscall.EBADF
}
