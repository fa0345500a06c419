package mirror

// Sync brings the mirror's tree up to date with the primary's, copying only what differs. Verify is
// in verify.go, the workers that copy files in parallel in workers.go, the walk of a file's data and
// holes in sparse.go.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"time"

	"golang.org/x/sys/unix"
)

// SyncOptions tune Sync.
type SyncOptions struct {
	// Full compares the content of every file. Without it, a regular file whose size, mode, owner and
	// modification time already match is trusted: right after a clean stop, and far cheaper.
	Full bool
	// Keep says which paths that exist only on the mirror must stay (retained log files).
	Keep func(rel string) bool
	// Progress, if set, is called now and then with the bytes examined so far and the total.
	Progress func(done, total int64)
	// Skip says which primary paths this sync leaves alone (neither copied nor removed).
	Skip func(rel string) bool
	// ContentOf names files whose content is compared even when Full is off.
	ContentOf map[string]bool
}

// SyncReport says what a sync did.
type SyncReport struct {
	Examined      int           `json:"examined"`       // entries looked at
	Copied        int           `json:"copied"`         // entries created or changed on the mirror
	Removed       int           `json:"removed"`        // entries removed from the mirror
	BytesCopied   int64         `json:"bytes_copied"`   // bytes written to the mirror
	BytesExamined int64         `json:"bytes_examined"` // bytes of primary files looked at
	Duration      time.Duration `json:"duration_ns"`
}

const chunkSize = 1 << 20

// syncer carries one sync's state.
type syncer struct {
	m        *Mirror
	ctx      context.Context
	o        SyncOptions
	r        *SyncReport
	total    int64
	pbuf     []byte
	qbuf     []byte
	lastTick time.Time
	// deferSync leaves durability to one syncfs of the mirror at the end (a whole-tree Sync) instead
	// of an fsync per file and directory written.
	deferSync bool
	// workers, in a whole-tree Sync, copies regular files on several goroutines at once (workers.go).
	// nil: one at a time.
	workers *fileWorkers
	// worker is set on the syncer of one file copied by a worker: it starts no workers itself.
	worker bool
}

// Sync brings the mirror up to date with the primary: only what differs is copied, everything written
// is fsynced, and the directories it changed are fsynced. It is safe to re-run after an interruption.
// It must not run while the mirror is being served by a mount.
func (m *Mirror) Sync(ctx context.Context, o SyncOptions) (SyncReport, error) {
	start := time.Now()
	var r SyncReport
	s := &syncer{m: m, ctx: ctx, o: o, r: &r, pbuf: make([]byte, chunkSize), qbuf: make([]byte, chunkSize), deferSync: true,
		workers: newFileWorkers()}
	if o.Progress != nil {
		s.total = m.primaryBytes(".")
	}
	err := s.entry(".")
	if err == nil {
		// One flush of the mirror's file system makes every file and directory written durable, in
		// one journal commit instead of one per file.
		err = m.mirror.syncFS()
	}
	r.Duration = time.Since(start)
	if o.Progress != nil {
		o.Progress(r.BytesExamined, s.total)
	}
	return r, err
}

// primaryBytes adds up the sizes of the mirrored regular files under rel, for progress.
func (m *Mirror) primaryBytes(rel string) int64 {
	entries, err := m.primary.readDir(rel)
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range entries {
		child := path.Join(rel, e.Name())
		if !m.policy.Mirrored(child) {
			continue
		}
		if e.IsDir() {
			n += m.primaryBytes(child)
		} else if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
	}
	return n
}

// syncPath brings one path (and what is under it) up to date, or removes it from the mirror when the
// primary no longer has it.
func (m *Mirror) syncPath(rel string, full bool, r *SyncReport, keep func(string) bool) error {
	return m.syncPathWith(rel, r, SyncOptions{Full: full, Keep: keep})
}

// syncPathWith is syncPath with every option of Sync (Full, Keep, Progress; Skip and ContentOf do
// not apply to one path).
func (m *Mirror) syncPathWith(rel string, r *SyncReport, o SyncOptions) error {
	s := &syncer{m: m, ctx: context.Background(), o: o, r: r,
		pbuf: make([]byte, chunkSize), qbuf: make([]byte, chunkSize)}
	if _, err := m.primary.lstat(rel); errors.Is(err, unix.ENOENT) {
		if m.keep(rel, o.Keep) {
			return nil // a retained log
		}
		if err := m.mirror.removeAll(rel); err != nil {
			return err
		}
		return m.mirror.syncDir(parentDir(rel))
	}
	if err := s.entry(rel); err != nil {
		return err
	}
	return m.mirror.syncDir(parentDir(rel))
}

func fileType(st *unix.Stat_t) uint32 { return st.Mode & unix.S_IFMT }

// entry syncs rel, recursively for a directory.
func (s *syncer) entry(rel string) error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	m := s.m
	pst, err := m.primary.lstat(rel)
	if err != nil {
		return fmt.Errorf("primary %s: %w", rel, err)
	}
	s.r.Examined++
	qst, qerr := m.mirror.lstat(rel)
	if qerr == nil && fileType(&qst) != fileType(&pst) {
		if err := m.mirror.removeAll(rel); err != nil {
			return fmt.Errorf("mirror %s: remove entry of the wrong type: %w", rel, err)
		}
		s.r.Removed++
		qerr = unix.ENOENT
	}
	if qerr != nil && !errors.Is(qerr, unix.ENOENT) {
		return fmt.Errorf("mirror %s: %w", rel, qerr)
	}
	exists := qerr == nil
	switch fileType(&pst) {
	case unix.S_IFDIR:
		if !exists {
			if err := m.mirror.mkdir(rel, pst.Mode&07777); err != nil {
				return fmt.Errorf("mirror %s: mkdir: %w", rel, err)
			}
			s.r.Copied++
		}
		if err := s.dir(rel); err != nil {
			return err
		}
	case unix.S_IFREG:
		return s.file(rel, &pst, exists, &qst) // attributes included
	case unix.S_IFLNK:
		target, err := m.primary.readlink(rel)
		if err != nil {
			return fmt.Errorf("primary %s: readlink: %w", rel, err)
		}
		if exists {
			if cur, err := m.mirror.readlink(rel); err == nil && cur == target {
				break
			}
			if err := m.mirror.unlink(rel); err != nil {
				return fmt.Errorf("mirror %s: %w", rel, err)
			}
		}
		if err := m.mirror.symlink(target, rel); err != nil {
			return fmt.Errorf("mirror %s: symlink: %w", rel, err)
		}
		s.r.Copied++
	default: // devices, fifos, sockets
		if !exists {
			if err := m.mirror.mknod(rel, pst.Mode, int(pst.Rdev)); err != nil {
				return fmt.Errorf("mirror %s: mknod: %w", rel, err)
			}
			s.r.Copied++
		}
	}
	return s.attrs(rel, &pst)
}

// attrs gives the mirror entry the primary's mode, owner and times.
func (s *syncer) attrs(rel string, pst *unix.Stat_t) error {
	t := s.m.mirror
	if rel == "." {
		return nil // the roots may differ on purpose (different mount points)
	}
	if os.Geteuid() == 0 {
		if err := t.lchown(rel, int(pst.Uid), int(pst.Gid)); err != nil {
			return fmt.Errorf("mirror %s: chown: %w", rel, err)
		}
	}
	if err := t.chmod(rel, pst.Mode&07777); err != nil {
		return fmt.Errorf("mirror %s: chmod: %w", rel, err)
	}
	if err := t.utimens(rel, []unix.Timespec{pst.Atim, pst.Mtim}); err != nil {
		return fmt.Errorf("mirror %s: utimens: %w", rel, err)
	}
	return nil
}

// dir syncs the children of directory rel and removes what the mirror has in excess.
func (s *syncer) dir(rel string) error {
	m := s.m
	pents, err := m.primary.readDir(rel)
	if err != nil {
		return fmt.Errorf("primary %s: %w", rel, err)
	}
	want := map[string]bool{}
	files := s.startFiles()
	for _, e := range pents {
		child := path.Join(rel, e.Name())
		if !m.policy.Mirrored(child) {
			continue
		}
		want[e.Name()] = true
		if s.o.Skip != nil && s.o.Skip(child) {
			continue
		}
		if e.Type().IsRegular() && files != nil {
			if err := files.start(child); err != nil {
				if werr := files.wait(); werr != nil {
					return werr
				}
				return err
			}
			continue
		}
		if err := s.entry(child); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // removed on the primary while we walked
			}
			files.wait()
			return err
		}
	}
	if err := files.wait(); err != nil {
		return err
	}
	qents, err := m.mirror.readDir(rel)
	if err != nil {
		return fmt.Errorf("mirror %s: %w", rel, err)
	}
	changed := false
	for _, e := range qents {
		child := path.Join(rel, e.Name())
		if want[e.Name()] || !m.policy.Mirrored(child) || m.keep(child, s.o.Keep) {
			continue
		}
		if err := m.mirror.removeAll(child); err != nil {
			return fmt.Errorf("mirror %s: remove: %w", child, err)
		}
		s.r.Removed++
		changed = true
	}
	if changed && !s.deferSync {
		return m.mirror.syncDir(rel)
	}
	return nil
}

func sameMeta(p, q *unix.Stat_t) bool {
	return p.Size == q.Size && p.Mode == q.Mode && p.Uid == q.Uid && p.Gid == q.Gid &&
		p.Mtim == q.Mtim
}

// file copies what differs between the primary's regular file and the mirror's: its data extents
// chunk by chunk, its holes as holes.
func (s *syncer) file(rel string, pst *unix.Stat_t, exists bool, qst *unix.Stat_t) error {
	full := s.o.Full || s.o.ContentOf[rel]
	if exists && (!full && sameMeta(pst, qst) || s.m.trustedLog(rel, pst, qst)) {
		s.examined(pst.Size)
		if sameMeta(pst, qst) {
			return nil // mode, owner and times already equal
		}
		return s.attrs(rel, pst)
	}
	m := s.m
	p, err := m.primary.open(rel, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("primary %s: %w", rel, err)
	}
	defer unix.Close(p)
	q, err := m.mirror.open(rel, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("mirror %s: %w", rel, err)
	}
	defer unix.Close(q)
	var qsize int64
	if exists {
		qsize = qst.Size
	}
	c := fileCopy{s: s, rel: rel, p: p, q: q, qlen: qsize, wrote: !exists}
	var now unix.Stat_t
	for from := int64(0); ; {
		if err := unix.Fstat(p, &now); err != nil {
			return fmt.Errorf("primary %s: %w", rel, err)
		}
		if now.Size <= from {
			break
		}
		// Only the primary's data is read; its holes become holes on the mirror. A file that grew
		// during the walk (a write behind the mount's back) is walked again from where it ended.
		if err := extents(p, from, now.Size, c.extent); err != nil {
			if c.failed {
				return err
			}
			return fmt.Errorf("primary %s: find holes: %w", rel, err)
		}
		from = now.Size
	}
	if c.qlen != now.Size {
		if err := unix.Ftruncate(q, now.Size); err != nil {
			return fmt.Errorf("mirror %s: truncate: %w", rel, err)
		}
		c.wrote = true
	}
	wrote := c.wrote
	if err := s.fattrs(rel, q, pst); err != nil {
		return err
	}
	if wrote {
		s.r.Copied++
		if s.deferSync {
			return nil
		}
		if err := unix.Fsync(q); err != nil {
			return fmt.Errorf("mirror %s: fsync: %w", rel, err)
		}
	}
	return nil
}

// fileCopy is the copy of one regular file by syncer.file, extent by extent.
type fileCopy struct {
	s     *syncer
	rel   string
	p, q  int
	qlen  int64 // the mirror file's length as the copy leaves it
	wrote bool  // the mirror file was changed
	// failed says the walk's error came from the copy of an extent (it names its side), not from
	// lseek on the primary.
	failed bool
}

// extent brings one extent of the primary's file to the mirror: a data extent is compared chunk by
// chunk and only the blocks that differ are written; a hole is made a hole on the mirror too, where
// the mirror file reaches (the final truncate makes the rest).
func (c *fileCopy) extent(e extent) error {
	err := c.copyExtent(e)
	c.failed = err != nil
	return err
}

func (c *fileCopy) copyExtent(e extent) error {
	s := c.s
	if e.hole {
		if e.off < c.qlen {
			changed, err := makeHole(c.q, e.off, min(e.end, c.qlen), s.qbuf)
			if err != nil {
				return fmt.Errorf("mirror %s: punch a hole: %w", c.rel, err)
			}
			c.wrote = c.wrote || changed
		}
		s.examined(e.end - e.off)
		return nil
	}
	for off := e.off; off < e.end; off += chunkSize {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		want := int(min(chunkSize, e.end-off))
		n, err := readFull(c.p, s.pbuf[:want], off)
		if err != nil {
			return fmt.Errorf("primary %s: read: %w", c.rel, err)
		}
		if n == 0 {
			return nil // shrunk during the walk: the final truncate follows the primary's size
		}
		k := 0
		if off < c.qlen {
			if k, err = readFull(c.q, s.qbuf[:n], off); err != nil {
				return fmt.Errorf("mirror %s: read: %w", c.rel, err)
			}
		}
		w, err := writeDiffering(c.q, s.pbuf[:n], s.qbuf[:k], off)
		if err != nil {
			return fmt.Errorf("mirror %s: write: %w", c.rel, err)
		}
		if w > 0 {
			c.qlen = max(c.qlen, off+int64(n))
			s.r.BytesCopied += w
			c.wrote = true
		}
		s.examined(int64(n))
		if n < want {
			return nil
		}
	}
	return nil
}

// fattrs is attrs through the mirror file's open descriptor: no path to resolve three times.
func (s *syncer) fattrs(rel string, q int, pst *unix.Stat_t) error {
	if os.Geteuid() == 0 {
		if err := unix.Fchown(q, int(pst.Uid), int(pst.Gid)); err != nil {
			return fmt.Errorf("mirror %s: chown: %w", rel, err)
		}
	}
	if err := unix.Fchmod(q, pst.Mode&07777); err != nil {
		return fmt.Errorf("mirror %s: chmod: %w", rel, err)
	}
	if err := unix.UtimesNanoAt(q, "", []unix.Timespec{pst.Atim, pst.Mtim}, unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("mirror %s: utimens: %w", rel, err)
	}
	return nil
}

// examined counts n more bytes of the primary looked at, and shows progress.
func (s *syncer) examined(n int64) {
	s.r.BytesExamined += n
	if s.workers != nil {
		s.workers.examined.Add(n)
	}
	s.tick()
}

func (s *syncer) tick() {
	if s.o.Progress == nil {
		return
	}
	if w := s.workers; w != nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		if time.Since(w.lastTick) < time.Second {
			return
		}
		w.lastTick = time.Now()
		s.o.Progress(w.examined.Load(), s.total)
		return
	}
	if time.Since(s.lastTick) < time.Second {
		return
	}
	s.lastTick = time.Now()
	s.o.Progress(s.r.BytesExamined, s.total)
}

// readFull reads up to len(buf) bytes at off; fewer only at the end of the file.
// syncBlock is the unit a sync writes: within a chunk that differs, only the blocks of this size
// that differ are written. Database engines change pages (Berkeley DB's are 4 KiB by default to
// 64 KiB), so a few commits scattered over a large file rewrite a few pages, not whole chunks.
const syncBlock = 4096

// writeDiffering writes into fd at off the blocks of want that differ from have (what fd holds
// there; shorter when the file ends inside the chunk), coalescing neighbouring blocks into one write,
// and returns how many bytes it wrote.
func writeDiffering(fd int, want, have []byte, off int64) (int64, error) {
	var written int64
	start := -1 // first byte of the run of differing blocks being gathered, or -1
	flush := func(end int) error {
		if start < 0 {
			return nil
		}
		if err := pwriteAll(fd, want[start:end], off+int64(start)); err != nil {
			return err
		}
		written += int64(end - start)
		start = -1
		return nil
	}
	for b := 0; b < len(want); b += syncBlock {
		e := min(b+syncBlock, len(want))
		if e <= len(have) && bytes.Equal(want[b:e], have[b:e]) {
			if err := flush(b); err != nil {
				return written, err
			}
			continue
		}
		if start < 0 {
			start = b
		}
	}
	return written, flush(len(want))
}

func readFull(fd int, buf []byte, off int64) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := unix.Pread(fd, buf[n:], off+int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		if k == 0 {
			break
		}
		n += k
	}
	return n, nil
}

// keep reports whether a path found only on the mirror stays: a retained log, or what keep says.
func (m *Mirror) keep(rel string, keep func(string) bool) bool {
	if _, ok := m.isLog(rel); ok {
		return true
	}
	return keep != nil && keep(rel)
}

// trustedLog reports whether rel is a sealed log of unchanged size: complete logs never change, so its
// content is not compared again.
func (m *Mirror) trustedLog(rel string, pst, qst *unix.Stat_t) bool {
	if pst.Size != qst.Size {
		return false
	}
	m.mu.Lock()
	_, ok := m.sealed[rel]
	m.mu.Unlock()
	return ok
}

// SyncPaths brings the given paths up to date (or removes them from the mirror when the primary no
// longer has them), comparing content when full. Retained logs are kept.
func (m *Mirror) SyncPaths(ctx context.Context, rels []string, full bool) (SyncReport, error) {
	start := time.Now()
	var r SyncReport
	for _, rel := range rels {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		if err := m.syncPath(rel, full, &r, nil); err != nil {
			return r, err
		}
	}
	r.Duration = time.Since(start)
	return r, nil
}
