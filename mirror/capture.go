package mirror

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Captured files: writes the daemon does not see.
//
// fusefs may serve an engine's log files by kernel passthrough: the kernel then writes the primary's
// file itself, and no WRITE request reaches the daemon, which saves one round trip per commit. Such a
// file is captured: at every fsync of it (through any of its descriptors, also a read-only one) and
// at every close of one of its writers, the bytes the file gained since the last capture are copied
// from the primary's file to the mirror's, and only then are both sides synced. So fsync still means
// durable on both disks, and a commit the engine acknowledged after its log fsync is on the mirror.
//
// What changes is when a log's bytes reach the mirror: at the log's next fsync or close, not as each
// write returns. Ordering still holds for engines that follow the write-ahead rule (Berkeley DB,
// SQLite, every engine with a log): a log's records are fsynced before anything that depends on them
// is written elsewhere (a database page, a checkpoint, the commit's acknowledgement), and that fsync
// captures them first. What a crash of the primary can cost is what was never fsynced, as on one disk.
//
// Invariants:
//   - [0, done) of the primary's file was on the mirror at the last capture; a capture copies from
//     done rounded down to captureBlock to the first hole (SEEK_HOLE) and, when the size changed, the
//     data beyond it (a preallocated log's last byte), and moves done to just past the last non-zero
//     byte it copied. So a log writer that rewrites its last partial block is captured too, and so is
//     a log preallocated to its full size, as Berkeley DB's are, whose size says nothing. Overwrites further back are not seen: only append-only files
//     (logs, as the engine names them) are captured, and opens with O_SYNC/O_DSYNC or a file with
//     setuid/setgid bits are never served by passthrough (fusefs decides).
//   - A truncate through the mount lowers done to the new size before it is answered; the kernel holds
//     the inode lock across a SETATTR, so no passthrough write comes between.
//   - A resync of the path copies the whole file and then sets done to 0: the next capture copies the
//     file again up to its first hole. A new capture (the first writer's open) starts at 0 too.
//   - Lock order: capture.mu, then File.lock (the inode's stripe), then Mirror.mu; captureSet.mu is
//     never held while taking another lock. done is atomic, so that a truncate or a resync, which hold
//     the stripe, can lower or reset it without capture.mu.
type capture struct {
	mu     sync.Mutex
	ino    uint64
	rel    string       // the name at the first open, for messages and the mirror's reopen
	done   atomic.Int64 // see the invariants; lowered or reset without mu by truncates and resyncs
	p      int          // the capture's own read-only descriptor of the primary's file (writers may be O_WRONLY)
	q      int          // the capture's own mirror descriptor; -1 while none is open (degraded, released)
	closed bool         // its last writer closed; a late fsync through a reader has nothing to copy
	// sizeSeen is the primary's size at the last capture that copied the data beyond the first hole.
	sizeSeen int64
	// writers counts the handles that registered with Capture and have not closed; guarded by
	// captureSet.mu.
	writers int
}

// captureBlock is the unit a capture starts at: the block the last capture ended in is copied again.
const captureBlock = 4096

// captureSet is a Mirror's captured files, by primary inode.
type captureSet struct {
	mu    sync.Mutex
	n     atomic.Int32 // len(byIno): the fsync path's check costs no lock when nothing is captured
	byIno map[uint64]*capture
	// ended says when the last capture of a path ended, so that the foreign-write watch, which reads
	// its events late, can still tell the kernel's passthrough writes from foreign ones.
	ended map[string]time.Time
}

// captureGrace is how long after its last writer closed a path's modifications are still taken for
// the kernel's passthrough writes (the foreign-write watch reads its events asynchronously).
const captureGrace = 10 * time.Second

var captureBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// Capture registers f, a writer the kernel will serve by passthrough, before its first write: from now
// on its file's new bytes reach the mirror at fsync and close. Everything the file holds now is on the
// mirror already (written through the daemon, or captured by an earlier writer), or its path is dirty
// and the next resync copies it.
func (f *File) Capture() error {
	// The same inode, readable whatever f's access mode (the daemon is root where passthrough runs).
	p, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", f.P), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return f.m.primaryFailed("reopen", f.Rel, err)
	}
	s := &f.m.captures
	s.mu.Lock()
	if s.byIno == nil {
		s.byIno, s.ended = map[uint64]*capture{}, map[string]time.Time{}
	}
	c := s.byIno[f.ino]
	if c == nil {
		// done starts at 0: the first capture copies what the file holds up to its first hole (once
		// per open); its size says nothing, as a preallocated log is as large as it will be.
		c = &capture{ino: f.ino, rel: f.Rel, p: p, q: -1, sizeSeen: -1}
		s.byIno[f.ino] = c
		s.n.Store(int32(len(s.byIno)))
	} else {
		unix.Close(p)
		p = -1
	}
	c.writers++
	f.capture = c
	s.mu.Unlock()
	if h := f.m.captureHook; h != nil && p >= 0 {
		h.CaptureBegins(p)
	}
	return nil
}

// CaptureHook hears of the files the kernel writes directly: the foreign-write watch stops taking
// their modifications for foreign ones. The descriptor is the capture's own, of the primary's file.
type CaptureHook interface {
	CaptureBegins(fd int)
	CaptureEnds(fd int)
}

// SetCaptureHook sets h before the mount serves.
func (m *Mirror) SetCaptureHook(h CaptureHook) { m.captureHook = h }

// captureOf returns the capture of the primary inode ino, or nil.
func (m *Mirror) captureOf(ino uint64) *capture {
	s := &m.captures
	if s.n.Load() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byIno[ino]
}

// WrittenDirectly reports whether rel is, or was until moments ago, written by the kernel directly
// (a captured file): its modifications of the primary are the mount's own, not foreign ones.
func (m *Mirror) WrittenDirectly(rel string) bool {
	s := &m.captures
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.byIno {
		if c.rel == rel {
			return true
		}
	}
	at, ok := s.ended[rel]
	if ok && time.Since(at) > captureGrace {
		delete(s.ended, rel)
		return false
	}
	return ok
}

// captureLocked copies what f's file gained since the last capture to the mirror. c.mu is held.
func (f *File) captureLocked(c *capture) error {
	if c.closed {
		return nil
	}
	f.lock.Lock() // against a WRITE through the daemon to the same range (a non-passthrough open)
	defer f.lock.Unlock()
	var st unix.Stat_t
	if err := unix.Fstat(c.p, &st); err != nil {
		return f.m.primaryFailed("fstat", f.Rel, err)
	}
	d0 := c.done.Load()
	done := min(d0, st.Size) // shrunk by a truncate not seen here: what remains was captured
	if f.m.skipMirror(c.rel) {
		return nil // degraded: the path is dirty, and its resync resets done
	}
	if c.q < 0 {
		q, err := f.m.mirror.open(c.rel, unix.O_RDWR|unix.O_NOFOLLOW, 0)
		if err != nil {
			return f.m.mirrorFailed("capture", c.rel, err)
		}
		c.q = q
	}
	bp := captureBufs.Get().(*[]byte)
	defer captureBufs.Put(bp)
	// The appended part: from the block done lies in up to the first hole. A preallocated log
	// (Berkeley DB writes its last byte first) is a hole beyond what the engine wrote.
	from := done &^ (captureBlock - 1)
	end := st.Size
	if h, err := unix.Seek(c.p, from, unix.SEEK_HOLE); err == nil && h < end {
		end = h
	}
	last, err := f.copyRange(c, *bp, from, end, true)
	if err != nil {
		return err
	}
	// The rest of the file, once per size: the data a preallocation put beyond the hole.
	if st.Size != c.sizeSeen {
		for pos := end; pos < st.Size; {
			d, err := unix.Seek(c.p, pos, unix.SEEK_DATA)
			if err != nil {
				break // ENXIO: no data beyond pos
			}
			h, err := unix.Seek(c.p, d, unix.SEEK_HOLE)
			if err != nil {
				h = st.Size
			}
			if _, err := f.copyRange(c, *bp, d, h, false); err != nil {
				return err
			}
			pos = h
		}
		// The appended part's trailing zeros were not written: give the mirror's file the size.
		var qst unix.Stat_t
		if err := unix.Fstat(c.q, &qst); err != nil {
			return f.m.mirrorFailed("capture", c.rel, err)
		}
		if qst.Size < st.Size {
			if err := unix.Ftruncate(c.q, st.Size); err != nil {
				return f.m.mirrorFailed("capture", c.rel, err)
			}
		}
		c.sizeSeen = st.Size
	}
	// done moves to the end of the last non-zero byte copied, not to the hole: a file system may
	// report data a little beyond what was written (a whole block, preallocated space), and the
	// engine's next write lands there.
	newDone := max(from, last)
	if newDone > done {
		f.m.stats.logBytes.Add(newDone - done)
		f.m.stats.bytes.Add(newDone - done)
	}
	f.m.stats.ops.Add(1)
	// A truncate or a resync that changed done meanwhile wins: a lower value only copies more later.
	c.done.CompareAndSwap(d0, newDone)
	return nil
}

// copyRange copies [from, end) of the primary's file to the capture's mirror descriptor with buf,
// and returns the offset just past the last non-zero byte copied (0 when all were zero). With
// trimZeros the zeros after the last non-zero byte are not written: the mirror's file holds zeros
// there too (a preallocated log's unwritten part, or beyond its end, which the caller extends).
func (f *File) copyRange(c *capture, buf []byte, from, end int64, trimZeros bool) (int64, error) {
	var last int64
	for off := from; off < end; {
		n := min(int64(len(buf)), end-off)
		got, err := unix.Pread(c.p, buf[:n], off)
		if err != nil {
			return 0, f.m.primaryFailed("read", c.rel, err)
		}
		if got == 0 {
			break // shrunk meanwhile
		}
		data := buf[:got]
		nz := lastNonZero(data)
		if nz > 0 {
			last = off + int64(nz)
		}
		if trimZeros {
			data = data[:nz]
		}
		if err := pwriteAll(c.q, data, off); err != nil {
			return 0, f.m.mirrorFailed("capture", c.rel, err)
		}
		off += int64(got)
	}
	return last, nil
}

// lastNonZero returns the length of b without its trailing zero bytes, eight at a time.
func lastNonZero(b []byte) int {
	n := len(b)
	for n >= 8 && binary.NativeEndian.Uint64(b[n-8:n]) == 0 {
		n -= 8
	}
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return n
}

// CaptureNow copies what f's file gained to the mirror, if f is a captured writer; fusefs calls it
// at every close(2) (FLUSH), so that a log is whole on the mirror when its writer's close returns,
// before the engine creates the next log (which seals this one).
func (f *File) CaptureNow() error {
	c := f.capture
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return f.captureLocked(c)
}

// endCapture captures f's file a last time as f, one of its writers, closes, and ends the capture
// with its last writer.
func (f *File) endCapture() error {
	c := f.capture
	f.capture = nil
	c.mu.Lock()
	err := f.captureLocked(c)
	c.mu.Unlock()
	s := &f.m.captures
	s.mu.Lock()
	c.writers--
	last := c.writers == 0
	if last {
		delete(s.byIno, c.ino)
		s.n.Store(int32(len(s.byIno)))
		s.ended[c.rel] = time.Now()
	}
	s.mu.Unlock()
	if last {
		c.mu.Lock()
		c.closed = true
		if h := f.m.captureHook; h != nil {
			h.CaptureEnds(c.p)
		}
		unix.Close(c.p)
		if c.q >= 0 {
			unix.Close(c.q)
			c.q = -1
		}
		c.mu.Unlock()
	}
	return err
}

// captureTruncated lowers the captured extent of inode ino to size after a truncate.
func (m *Mirror) captureTruncated(ino uint64, size int64) {
	if c := m.captureOf(ino); c != nil {
		for {
			d := c.done.Load()
			if d <= size || c.done.CompareAndSwap(d, size) {
				return
			}
		}
	}
}

// captureResynced records that a resync copied inode ino's file whole while the kernel may have
// been appending to it: the next capture starts from the beginning again (once).
func (m *Mirror) captureResynced(ino uint64) {
	if c := m.captureOf(ino); c != nil {
		c.done.Store(0)
	}
}

// dropCaptureMirrors closes the captures' mirror descriptors, like dropMirrors for open files.
func (m *Mirror) dropCaptureMirrors() {
	s := &m.captures
	s.mu.Lock()
	cs := make([]*capture, 0, len(s.byIno))
	for _, c := range s.byIno {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.mu.Lock()
		if c.q >= 0 {
			unix.Close(c.q)
			c.q = -1
		}
		c.mu.Unlock()
	}
}
