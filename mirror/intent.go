package mirror

// The intent record limits the repair after an unclean stop to what may have been in flight, as a
// write-intent log does for a RAID1 resync.
//
// Invariant: every file that a mount holds open for writing on the mirror is named in the mirror's
// intent record (.mirrorctl/intent.json) before the first change through it reaches either side. The
// record is written to the page cache, not fsynced: it only serves after the mount process died on
// this same boot (the record of the mirror keeps the boot id), when the page cache survived; after a
// machine crash the next start compares everything by content. A change to a closed file, or to the namespace, completes on both sides before it returns,
// and shows in size, mode, owner or presence, which a metadata comparison catches; a write in flight
// may leave size and mtime alone (timestamps are coarse), so only the named files need their content
// compared after a crash.

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/mirrorctl/mirrorctl/meta"
)

const intentFile = "intent.json"

// intentRecord is the intent file's content.
type intentRecord struct {
	Open []string `json:"open"`
}

// openIntents is what the intent record must name: the files open for writing on the mirror, with
// their opener counts.
type openIntents struct {
	mu      sync.Mutex     // guards the fields below, and the writing of the record
	openers map[string]int // files open for writing, with their opener counts
	stale   bool           // openers has lost names since the record was written
}

// ReadIntent returns the files that were open for writing when the last mount stopped, and whether the
// record exists and is whole.
func ReadIntent(dir string) ([]string, bool) {
	b, err := os.ReadFile(meta.Path(dir, intentFile))
	if errors.Is(err, fs.ErrNotExist) || err != nil {
		return nil, false
	}
	var r intentRecord
	if json.Unmarshal(b, &r) != nil {
		return nil, false
	}
	return r.Open, true
}

// intentAdd records that rel is open for writing; the first opener writes the record durably.
func (m *Mirror) intentAdd(rel string) error {
	m.intent.mu.Lock()
	defer m.intent.mu.Unlock()
	m.intent.openers[rel]++
	if m.intent.openers[rel] > 1 && !m.intent.stale {
		return nil
	}
	return m.writeIntentLocked()
}

// intentDone records that one opener of rel closed it. The record is rewritten lazily: a name that
// stays in it only costs a content comparison after a crash.
func (m *Mirror) intentDone(rel string) {
	m.intent.mu.Lock()
	defer m.intent.mu.Unlock()
	if m.intent.openers[rel] <= 1 {
		delete(m.intent.openers, rel)
		m.intent.stale = true
		return
	}
	m.intent.openers[rel]--
}

// intentRename keeps a renamed open file in the record under its new name too.
func (m *Mirror) intentRename(oldRel, newRel string) error {
	m.intent.mu.Lock()
	defer m.intent.mu.Unlock()
	if m.intent.openers[oldRel] == 0 {
		return nil
	}
	m.intent.openers[newRel] += m.intent.openers[oldRel]
	return m.writeIntentLocked()
}

func (m *Mirror) writeIntentLocked() error {
	r := intentRecord{Open: make([]string, 0, len(m.intent.openers))}
	for rel := range m.intent.openers {
		r.Open = append(r.Open, rel)
	}
	sort.Strings(r.Open)
	m.intent.stale = false
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writeFileAtomic(meta.Path(m.Target, intentFile), b)
}

// writeFileAtomic replaces path with data by rename, without fsync: readers see the old or the new
// content, never a mix, as long as the machine does not crash.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// clearIntent removes the record at a clean stop.
func (m *Mirror) clearIntent() error {
	err := os.Remove(meta.Path(m.Target, intentFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
