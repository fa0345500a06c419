package mirror

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// File is a file open on both sides: the primary's descriptor and the mirror's, opened together so that
// the pair keeps naming the same file after a rename or an unlink. Writes go to the primary, then to the
// mirror at the same offset (large ones to both at once: writeBoth), under a lock shared by every handle of the same primary inode, so that
// overlapping writes reach both sides in the same order.
type File struct {
	m     *Mirror
	Rel   string // the name at open time, for messages and the dirty record
	P     int    // primary descriptor (the mirror's, once the primary was lost); reads use it
	dead  []int  // descriptors of a lost primary, closed at Close
	q     int    // mirror descriptor; -1 when not mirrored or the mirror could not open it
	lock  *sync.Mutex
	ino   uint64 // the primary's inode number
	isLog bool
	// capture is set while the kernel writes this handle's file directly (see capture.go).
	capture *capture
	want    bool // changes through this handle belong on the mirror (reopened after a resync)
	intent  bool // named in the intent record
	closed  bool
}

// openFlags are the flags mirrorctl opens backing files with: the kernel sends explicit offsets, so
// O_APPEND must go; O_DIRECT's alignment rules cannot be met with FUSE's buffers.
func openFlags(flags int) int {
	return flags &^ (unix.O_APPEND | unix.O_DIRECT | unix.O_EXCL)
}

// openFile opens rel on the primary and, when it is mirrored and opened for writing, on the mirror.
// With O_CREAT the file is created on both sides with the owner o.
func (m *Mirror) openFile(rel string, flags int, mode uint32, o Owner) (*File, error) {
	if IsMeta(rel) {
		return nil, fmt.Errorf("open %s: %w", rel, unix.EPERM)
	}
	create := flags&unix.O_CREAT != 0
	if create {
		defer m.nsShared()()
	}
	f, st, err := m.openPrimary(rel, flags, mode, o)
	if err != nil {
		return nil, err
	}
	n, isLog := m.isLog(rel)
	f.isLog = isLog
	writable := flags&(unix.O_WRONLY|unix.O_RDWR) != 0 || flags&unix.O_TRUNC != 0
	f.want = (writable || create) && m.policy.Mirrored(rel)
	if !f.want {
		if m.failover.on && m.policy.Mirrored(rel) && !m.degradedFlag.Load() {
			f.openReaderMirror()
		}
		m.track(f)
		return f, nil
	}
	if m.skipMirror(rel) {
		m.track(f)
		return f, nil
	}
	// Named in the intent record before any change through this handle can happen.
	if err := m.intentAdd(rel); err != nil {
		if err := m.mirrorFailed("open", rel, err); err != nil {
			unix.Close(f.P)
			return nil, err
		}
		m.track(f)
		return f, nil // degraded: served by the primary alone, like a file opened while degraded
	}
	f.intent = true
	err = m.mirrorOnly("open", rel, func(t *tree) error { return f.openMirror(t, flags, mode, o, &st) })
	if err != nil {
		unix.Close(f.P)
		return nil, err
	}
	if create && isLog {
		m.logCreated(rel, n)
	}
	m.mu.Lock()
	m.open[f] = struct{}{}
	if m.failover.on {
		m.handles[f] = struct{}{}
	}
	m.mu.Unlock()
	return f, nil
}

// track registers f for a switch to the mirror (PrimaryFailover only).
func (m *Mirror) track(f *File) {
	if !m.failover.on {
		return
	}
	m.mu.Lock()
	m.handles[f] = struct{}{}
	m.mu.Unlock()
}

// openReaderMirror gives a read-only handle a descriptor of the mirror's file too, for the mirror to
// serve it should the primary be lost. Best effort: without one, the handle fails with the primary.
func (f *File) openReaderMirror() {
	if q, err := f.m.mirror.open(f.Rel, unix.O_RDONLY|unix.O_NOFOLLOW, 0); err == nil {
		f.q = q
	}
}

// openPrimary opens rel on the primary (creating it with owner o under O_CREAT) and returns the
// handle, without a mirror descriptor yet, and the primary file's attributes.
func (m *Mirror) openPrimary(rel string, flags int, mode uint32, o Owner) (*File, unix.Stat_t, error) {
	var st unix.Stat_t
	pflags := flags &^ (unix.O_APPEND | unix.O_DIRECT)
	t := m.side(rel)
	if flags&unix.O_CREAT != 0 && t == m.rebuilt {
		if err := m.rebuiltParents(rel); err != nil {
			return nil, st, err
		}
	}
	p, err := t.open(rel, pflags|unix.O_NOFOLLOW, mode)
	if err != nil {
		return nil, st, m.primaryFailed("open", rel, err)
	}
	if err := unix.Fstat(p, &st); err != nil {
		unix.Close(p)
		return nil, st, err
	}
	f := &File{m: m, Rel: rel, P: p, q: -1, ino: st.Ino, lock: &m.locks[st.Ino%uint64(len(m.locks))]}
	if flags&unix.O_CREAT != 0 {
		m.dirChanged(rel)
		if err := o.apply(t, rel); err != nil {
			unix.Close(p)
			return nil, st, err
		}
	}
	return f, st, nil
}

// openMirror opens f's file on the mirror tree t with the flags of the open, and under O_CREAT gives
// it what the primary's new file has (pst): empty if it is, the mode, the owner o.
func (f *File) openMirror(t *tree, flags int, mode uint32, o Owner, pst *unix.Stat_t) error {
	create := flags&unix.O_CREAT != 0
	qflags := openFlags(flags) | unix.O_NOFOLLOW
	if create {
		// The mirror may need to truncate a stale file of this name, even for O_RDONLY|O_CREAT.
		qflags = qflags&^unix.O_ACCMODE | unix.O_RDWR
	}
	q, err := t.open(f.Rel, qflags, mode)
	if err != nil {
		return err
	}
	if create {
		if err := f.matchCreated(t, q, o, pst); err != nil {
			unix.Close(q)
			return err
		}
	}
	f.q = q
	return nil
}

// matchCreated makes the mirror's file q, opened with O_CREAT, match the primary's (pst): a stale
// mirror file of this name keeps its old content and mode through O_CREAT.
func (f *File) matchCreated(t *tree, q int, o Owner, pst *unix.Stat_t) error {
	// A file the primary just created is empty; a stale mirror file of that name must be too.
	if pst.Size == 0 {
		if err := unix.Ftruncate(q, 0); err != nil {
			return err
		}
	}
	if err := unix.Fchmod(q, pst.Mode&07777); err != nil {
		return err
	}
	return o.apply(t, f.Rel)
}

// IsLog reports whether f is one of the engine's log files.
func (f *File) IsLog() bool { return f.isLog }

// Mirrored reports whether changes through f reach the mirror.
func (f *File) Mirrored() bool { return f.q >= 0 }

// reopenMirror opens the mirror's file for a handle opened while the mirror was degraded, once a
// resync made the path clean again. The caller holds f.lock.
func (f *File) reopenMirror() {
	if f.q >= 0 || !f.want {
		return
	}
	if f.m.skipMirror(f.Rel) {
		return
	}
	q, err := f.m.mirror.open(f.Rel, unix.O_RDWR|unix.O_NOFOLLOW, 0)
	if err != nil {
		var st unix.Stat_t
		if errors.Is(err, unix.ENOENT) && unix.Fstat(f.P, &st) == nil && st.Nlink == 0 {
			// Unlinked on both sides since it was opened (an engine's region, a WAL at close):
			// what is still written to it reaches no name, on either side.
			f.want = false
			return
		}
		f.m.mirrorFailed("reopen", f.Rel, err)
		return
	}
	f.q = q
}

// mirrorHalf runs the mirror half of a change through f, applying the error policy.
func (f *File) mirrorHalf(op string, fn func(q int) error) error {
	if f.q < 0 {
		return nil
	}
	if f.m.skipMirror(f.Rel) {
		return nil
	}
	if err := fn(f.q); err != nil {
		return f.m.mirrorFailed(op, f.Rel, err)
	}
	f.m.stats.ops.Add(1)
	return nil
}

func pwriteAll(fd int, data []byte, off int64) error {
	for len(data) > 0 {
		n, err := unix.Pwrite(fd, data, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		data, off = data[n:], off+int64(n)
	}
	return nil
}

// writeAt writes data at off on the primary, then the same bytes at the same offset on the mirror.
func (f *File) writeAt(data []byte, off int64) (int, error) {
	f.lock.Lock()
	defer f.lock.Unlock()
	f.reopenMirror()
	f.m.stats.inFlight.Add(1)
	defer f.m.stats.inFlight.Add(-1)
	if len(data) >= parallelWriteMin && f.q >= 0 && !f.m.skipMirror(f.Rel) {
		return f.writeBoth(data, off)
	}
	n, err := unix.Pwrite(f.P, data, off)
	if err != nil {
		return 0, f.m.primaryFailed("write", f.Rel, err)
	}
	f.m.stats.pendingBytes.Add(int64(n))
	defer f.m.stats.pendingBytes.Add(-int64(n))
	f.m.stats.writes.Add(1)
	if f.isLog {
		f.m.stats.logBytes.Add(int64(n))
	}
	err = f.mirrorHalf("write", func(q int) error { return pwriteAll(q, data[:n], off) })
	if err != nil {
		return 0, err
	}
	if f.q >= 0 {
		f.m.stats.bytes.Add(int64(n))
	}
	return n, nil
}

// parallelWriteMin is the size from which a write goes to both sides at once: below it, the cost of
// handing the mirror's half to another thread exceeds the copy it saves.
const parallelWriteMin = 128 << 10

// writeBoth writes data at off on the primary and on the mirror in parallel. Where the primary wrote
// less than the mirror (a short write or an error, such as a full primary), the mirror's range is
// given back the primary's bytes and size before the answer, so the mirror never holds what the
// application was not told was written. Called with f.lock held and f.q open.
func (f *File) writeBoth(data []byte, off int64) (int, error) {
	q := f.q
	mirrored := make(chan error, 1)
	go func() { mirrored <- pwriteAll(q, data, off) }()
	n, perr := unix.Pwrite(f.P, data, off)
	qerr := <-mirrored
	if n < 0 {
		n = 0
	}
	if qerr == nil && n < len(data) {
		err := f.restoreMirrorRange(q, off+int64(n), off+int64(len(data)))
		var unreadable primaryUnreadable
		switch {
		case errors.As(err, &unreadable):
			// The primary cannot give its bytes back: it is failing, and its error is the answer.
			// The mirror keeps bytes of a write never acknowledged, as after a torn write; it is
			// not behind, so not degraded.
		case err != nil:
			qerr = fmt.Errorf("restoring the range the primary did not write: %w", err)
		}
	}
	if perr != nil {
		if qerr != nil {
			f.m.mirrorFailed("write", f.Rel, qerr) // the primary's error is the answer
		}
		return 0, f.m.primaryFailed("write", f.Rel, perr)
	}
	f.m.stats.writes.Add(1)
	if f.isLog {
		f.m.stats.logBytes.Add(int64(n))
	}
	if qerr != nil {
		if err := f.m.mirrorFailed("write", f.Rel, qerr); err != nil {
			return 0, err
		}
		return n, nil
	}
	f.m.stats.ops.Add(1)
	f.m.stats.bytes.Add(int64(n))
	return n, nil
}

// restoreMirrorRange gives the mirror's descriptor q the primary's bytes in [from, to) and, where
// the mirror grew beyond it, the primary's size: undoing the part of a parallel write that the
// primary refused.
func (f *File) restoreMirrorRange(q int, from, to int64) error {
	var st unix.Stat_t
	if err := unix.Fstat(f.P, &st); err != nil {
		return primaryUnreadable{err}
	}
	if end := min(to, st.Size); end > from {
		buf := make([]byte, end-from)
		n, err := unix.Pread(f.P, buf, from)
		if err != nil {
			return primaryUnreadable{err}
		}
		if err := pwriteAll(q, buf[:n], from); err != nil {
			return err
		}
	}
	var qst unix.Stat_t
	if err := unix.Fstat(q, &qst); err != nil {
		return err
	}
	if qst.Size > st.Size {
		return unix.Ftruncate(q, st.Size)
	}
	return nil
}

// primaryUnreadable is restoreMirrorRange failing on the primary's side.
type primaryUnreadable struct{ err error }

func (e primaryUnreadable) Error() string { return "reading the primary: " + e.err.Error() }
func (e primaryUnreadable) Unwrap() error { return e.err }

// truncate sets the size on both sides.
func (f *File) truncate(size int64) error {
	f.lock.Lock()
	defer f.lock.Unlock()
	f.reopenMirror()
	if err := unix.Ftruncate(f.P, size); err != nil {
		return err
	}
	f.m.captureTruncated(f.ino, size)
	return f.mirrorHalf("truncate", func(q int) error { return unix.Ftruncate(q, size) })
}

// allocate runs fallocate (including hole punching) on both sides.
func (f *File) allocate(mode uint32, off, length int64) error {
	f.lock.Lock()
	defer f.lock.Unlock()
	f.reopenMirror()
	if err := unix.Fallocate(f.P, mode, off, length); err != nil {
		return err
	}
	return f.mirrorHalf("fallocate", func(q int) error { return unix.Fallocate(q, mode, off, length) })
}

// setattr changes attributes through the open descriptors, so it works on unlinked files too.
func (f *File) setattr(a SetAttr) error {
	if a.Size != nil {
		if err := f.truncate(*a.Size); err != nil {
			return err
		}
	}
	apply := func(fd int) error {
		if a.Mode != nil {
			if err := unix.Fchmod(fd, *a.Mode&07777); err != nil {
				return err
			}
		}
		if a.UID != nil || a.GID != nil {
			uid, gid := ownerArgs(a)
			if err := unix.Fchown(fd, uid, gid); err != nil {
				return err
			}
		}
		if a.Atime != nil || a.Mtime != nil {
			return unix.UtimesNanoAt(fd, "", a.times(), unix.AT_EMPTY_PATH)
		}
		return nil
	}
	if a.Mode == nil && a.UID == nil && a.GID == nil && a.Atime == nil && a.Mtime == nil {
		return nil
	}
	if err := apply(f.P); err != nil {
		return err
	}
	return f.mirrorHalf("setattr", apply)
}

// copyTimes gives the mirror file the primary's timestamps, so a later start can compare them.
func (f *File) copyTimes() error {
	var st unix.Stat_t
	if err := unix.Fstat(f.P, &st); err != nil {
		return err
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	return f.mirrorHalf("utimens", func(q int) error { return unix.UtimesNanoAt(q, "", ts, unix.AT_EMPTY_PATH) })
}

// sync makes the file durable on both sides (fdatasync when datasync), together with every directory
// entry created or renamed since the last sync. The two sides are synced in parallel; what the kernel
// wrote directly (a captured log) is copied to the mirror while the primary syncs.
//
// The mirror's times are copied at Close, not here: they only serve the size-and-time comparison of a
// later start, and a file open when the mount stopped uncleanly is compared by content anyway (the
// intent record names it), which sets its times. Two syscalls and an inode update less per commit.
func (f *File) sync(datasync bool) error {
	if c := f.m.captureOf(f.ino); c != nil {
		// The kernel wrote the file directly: copy what it gained to the mirror while the primary
		// syncs, then sync the mirror through the capture's descriptor (f may be a reader, which has
		// none).
		c.mu.Lock()
		defer c.mu.Unlock()
		return f.syncBoth(datasync, func() (int, error) {
			if err := f.captureLocked(c); err != nil {
				return -1, err
			}
			return c.q, nil
		})
	}
	q := f.q
	if q >= 0 && f.m.skipMirror(f.Rel) {
		q = -1
	}
	if q < 0 {
		return f.syncBoth(datasync, nil)
	}
	return f.syncBoth(datasync, func() (int, error) { return q, nil })
}

// syncBoth syncs f's primary descriptor and, in parallel, the mirror's descriptor that mirrorSide
// returns (none when nil or -1) after doing what must reach the mirror first, then the directories
// whose entries changed. A primary's failure is reported before the mirror side's.
func (f *File) syncBoth(datasync bool, mirrorSide func() (int, error)) error {
	do := unix.Fsync
	if datasync {
		do = unix.Fdatasync
	}
	var qerr, serr error
	side := func() {
		q, err := mirrorSide()
		if err != nil || q < 0 {
			serr = err
			return
		}
		start := time.Now()
		qerr = do(q)
		f.m.stats.mirrorSync.observe(time.Since(start))
	}
	var perr error
	primary := func() {
		start := time.Now()
		perr = do(f.P)
		f.m.stats.primarySync.observe(time.Since(start))
	}
	if mirrorSide != nil {
		alongside(primary, side)
	} else {
		primary()
	}
	if perr != nil {
		return f.m.primaryFailed("fsync", f.Rel, perr)
	}
	if serr != nil {
		return serr
	}
	if qerr != nil {
		if err := f.m.mirrorFailed("fsync", f.Rel, qerr); err != nil {
			return err
		}
	}
	return f.m.syncDirtyDirs()
}

// dropMirror closes the mirror's descriptor of a file whose mirror disk was replaced.
func (f *File) dropMirror() {
	f.lock.Lock()
	defer f.lock.Unlock()
	if f.q >= 0 {
		unix.Close(f.q)
		f.q = -1
	}
}

// close gives the mirror the primary's timestamps and closes both descriptors.
func (f *File) close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.m.mu.Lock()
	delete(f.m.open, f)
	delete(f.m.handles, f)
	f.m.mu.Unlock()
	for _, fd := range f.dead {
		unix.Close(fd) // a lost primary's: nothing to report
	}
	if f.intent {
		defer f.m.intentDone(f.Rel)
	}
	var err error
	if f.capture != nil {
		err = f.endCapture()
	}
	if f.q >= 0 && !f.want { // a reader's mirror descriptor, kept for a switch only
		unix.Close(f.q)
	} else if f.q >= 0 {
		if terr := f.copyTimes(); err == nil {
			err = terr
		}
		if cerr := unix.Close(f.q); err == nil && cerr != nil {
			err = f.m.mirrorFailed("close", f.Rel, cerr)
		}
	}
	if cerr := unix.Close(f.P); cerr != nil && err == nil {
		err = cerr
	}
	return err
}
