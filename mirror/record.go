package mirror

// This file keeps the mirror's record (mirror.json) while a Mirror is open.
//
// Invariants:
//   - One owner: every change the mirror package makes to the record of an open Mirror goes through its
//     recordKeeper's Update, which holds one mutex from reading the current record to the end of the
//     durable write. Two writers (the log sealer, a resync, a session's start and stop) can never lose
//     each other's fields.
//   - The keeper's record is what is on disk as of its last successful write (or what it read). When a
//     write fails, the change is not kept in memory: the caller gets the error and the next Update starts
//     from the last record known to be durable, then rewrites the whole file.
//   - Lock order: the keeper's mutex is taken before Mirror.mu (an Update's change may read the sealed
//     logs), never while Mirror.mu is held.

import (
	"fmt"
	"sync"

	"github.com/mirrorctl/mirrorctl/meta"
)

// recordKeeper owns the record of one mirror directory.
type recordKeeper struct {
	mu  sync.Mutex  // guards the fields below, and is held across every write of the record
	dir string      // the mirror directory whose metadata area holds the record
	rec meta.Record // the record as last read or durably written
	ok  bool        // the directory had a record, or one was written
	err error       // why the record could not be read, if it could not (it then starts empty)
}

// keepRecord reads dir's record and keeps it. A record that cannot be read is kept as an empty one,
// and the reason is reported by Current: the first Update replaces it.
func keepRecord(dir string) *recordKeeper {
	k := &recordKeeper{dir: dir}
	k.read()
	return k
}

// read replaces the kept record with the one on disk (with k.mu held, or before k is shared).
func (k *recordKeeper) read() {
	k.rec, k.ok, k.err = meta.ReadRecord(k.dir)
	if k.err != nil {
		k.rec, k.ok = meta.Record{}, false // a corrupt file may have filled some fields
	}
}

// Current returns a copy of the record, whether there was one, and why it could not be read.
func (k *recordKeeper) Current() (meta.Record, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.rec.Clone(), k.ok, k.err
}

// Update applies change to a copy of the record and writes it durably; only then is it the current
// record. change runs under the keeper's mutex: it must not call back into the keeper.
func (k *recordKeeper) Update(change func(*meta.Record)) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	next := k.rec.Clone()
	change(&next)
	if err := next.Write(k.dir); err != nil { // stamps next as it is on disk
		return fmt.Errorf("record of mirror %s: %w", k.dir, err)
	}
	k.rec, k.ok, k.err = next, true, nil
	return nil
}

// Reload reads the record again, from a directory that is now another file system (a replaced disk),
// and returns what Current would.
func (k *recordKeeper) Reload() (meta.Record, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.read()
	return k.rec.Clone(), k.ok, k.err
}

// retarget makes the keeper keep the record of another directory: the new mirror after the primary
// was lost (the old mirror serves now, its record written for the last time by the switch).
func (k *recordKeeper) retarget(dir string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dir = dir
	k.read()
}

// UpdateRecord applies change to the mirror's record and writes it durably (see recordKeeper.Update):
// while a Mirror is open on a directory, every change of that directory's record goes through it.
func (m *Mirror) UpdateRecord(change func(*meta.Record)) error { return m.record.Update(change) }
