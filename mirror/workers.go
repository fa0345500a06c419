package mirror

// The workers of a whole-tree Sync: the regular files of a directory are copied on several
// goroutines at once, so that the reads of one disk, the writes of the other and the per-file system
// calls overlap.

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// fileWorkers bound the files a whole-tree Sync copies at once.
type fileWorkers struct {
	slots    chan struct{}
	bufs     sync.Pool    // *[2][]byte chunk buffers
	examined atomic.Int64 // bytes examined by every goroutine, for progress
	mu       sync.Mutex   // serialises progress reports
	lastTick time.Time
}

const syncWorkers = 4

// fileBatch is the regular files of one directory being copied by the workers.
type fileBatch struct {
	parent  *syncer
	wg      sync.WaitGroup
	mu      sync.Mutex
	err     error
	reports []SyncReport // the workers', added to the parent's by wait, on its goroutine
}

// startFiles returns a batch for the files of a directory, or nil when files are copied in turn.
func (s *syncer) startFiles() *fileBatch {
	if s.workers == nil || s.worker {
		return nil
	}
	return &fileBatch{parent: s}
}

// start copies rel on a worker, waiting for a free one; it returns the batch's first error, after
// which nothing more is started.
func (b *fileBatch) start(rel string) error {
	if err := b.failed(); err != nil {
		return err
	}
	s := b.parent
	w := s.workers
	select {
	case w.slots <- struct{}{}:
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
	b.wg.Add(1)
	go func() {
		defer func() { <-w.slots; b.wg.Done() }()
		bufs, _ := w.bufs.Get().(*[2][]byte)
		if bufs == nil {
			bufs = &[2][]byte{make([]byte, chunkSize), make([]byte, chunkSize)}
		}
		defer w.bufs.Put(bufs)
		var r SyncReport
		sub := &syncer{m: s.m, ctx: s.ctx, o: s.o, r: &r, total: s.total, pbuf: bufs[0], qbuf: bufs[1],
			deferSync: s.deferSync, workers: w, worker: true}
		err := sub.entry(rel)
		if errors.Is(err, unix.ENOENT) {
			err = nil // removed on the primary while we walked
		}
		b.mu.Lock()
		b.reports = append(b.reports, r)
		if err != nil && b.err == nil {
			b.err = err
		}
		b.mu.Unlock()
	}()
	return nil
}

func (b *fileBatch) failed() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// wait waits for the batch's files and returns its first error.
func (b *fileBatch) wait() error {
	if b == nil {
		return nil
	}
	b.wg.Wait()
	for _, r := range b.reports {
		b.parent.r.add(r)
	}
	b.reports = nil
	return b.failed()
}

// add adds the counts of o (a worker's) to r.
func (r *SyncReport) add(o SyncReport) {
	r.Examined += o.Examined
	r.Copied += o.Copied
	r.Removed += o.Removed
	r.BytesCopied += o.BytesCopied
	r.BytesExamined += o.BytesExamined
}
