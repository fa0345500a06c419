package mirror

// The workers of a whole-tree Sync: the regular files of a directory are copied on several
// goroutines at once, so that the reads of one disk, the writes of the other and the per-file system
// calls overlap.
//
// Each directory's files are one errgroup: the directory waits for them before it sets its own
// attributes (creating a file changes the directory's mtime) and returns their first error. The
// walk goes on while they copy, in the primary's order, and enters subdirectories, whose files are
// groups of their own. So the bound of syncWorkers files at once, shared by the groups of every
// directory in the walk, is a semaphore and not the errgroup's SetLimit, which bounds one group: a
// limit per group would let a subdirectory start syncWorkers more while its parent's still copy.
// Waiting for a free worker ends with the sync's context.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"
	"golang.org/x/sys/unix"
)

const syncWorkers = 4

// fileWorkers is what the workers of one whole-tree Sync share.
type fileWorkers struct {
	slots    *semaphore.Weighted // syncWorkers: how many files the whole Sync copies at once
	bufs     sync.Pool           // *[2][]byte chunk buffers
	examined atomic.Int64        // bytes examined by every goroutine, for progress
	mu       sync.Mutex          // serialises progress reports; guards lastTick
	lastTick time.Time
}

func newFileWorkers() *fileWorkers {
	return &fileWorkers{slots: semaphore.NewWeighted(syncWorkers)}
}

// fileBatch is the regular files of one directory being copied by the workers. It is used by the
// directory's goroutine only; the workers write into their own reports.
type fileBatch struct {
	parent  *syncer
	g       *errgroup.Group
	stop    context.Context // done once a file of the batch failed, or the sync was cancelled
	reports []*SyncReport   // the workers', added to the parent's by wait
}

// startFiles returns a batch for the files of a directory, or nil when files are copied in turn.
func (s *syncer) startFiles() *fileBatch {
	if s.workers == nil || s.worker {
		return nil
	}
	g, stop := errgroup.WithContext(s.ctx)
	return &fileBatch{parent: s, g: g, stop: stop}
}

// start copies rel on a worker, waiting for a free one. It returns an error once a file of the batch
// failed or the sync was cancelled, and then starts nothing; the files already started run to their
// end, with the sync's context (a sibling's failure does not cut them short).
func (b *fileBatch) start(rel string) error {
	s := b.parent
	if err := context.Cause(b.stop); err != nil {
		return err
	}
	if err := s.workers.slots.Acquire(s.ctx, 1); err != nil {
		return err
	}
	r := new(SyncReport)
	b.reports = append(b.reports, r)
	b.g.Go(func() error {
		defer s.workers.slots.Release(1)
		return s.copyFile(rel, r)
	})
	return nil
}

// copyFile is one worker's job: sync regular file rel, counting into r.
func (s *syncer) copyFile(rel string, r *SyncReport) error {
	w := s.workers
	bufs, _ := w.bufs.Get().(*[2][]byte)
	if bufs == nil {
		bufs = &[2][]byte{make([]byte, chunkSize), make([]byte, chunkSize)}
	}
	defer w.bufs.Put(bufs)
	sub := &syncer{m: s.m, ctx: s.ctx, o: s.o, r: r, total: s.total, pbuf: bufs[0], qbuf: bufs[1],
		deferSync: s.deferSync, workers: w, worker: true}
	err := sub.entry(rel)
	if errors.Is(err, unix.ENOENT) {
		return nil // removed on the primary while we walked
	}
	return err
}

// wait waits for the batch's files, adds their counts to the parent's report and returns the
// batch's first error.
func (b *fileBatch) wait() error {
	if b == nil {
		return nil
	}
	err := b.g.Wait()
	for _, r := range b.reports {
		b.parent.r.add(*r)
	}
	b.reports = nil
	return err
}

// add adds the counts of o (a worker's) to r.
func (r *SyncReport) add(o SyncReport) {
	r.Examined += o.Examined
	r.Copied += o.Copied
	r.Removed += o.Removed
	r.BytesCopied += o.BytesCopied
	r.BytesExamined += o.BytesExamined
}
