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
)

const intentFile = "intent.json"

type intentRecord struct {
	Open []string `json:"open"`
}

// ReadIntent returns the files that were open for writing when the last mount stopped, and whether the
// record exists and is whole.
func ReadIntent(dir string) ([]string, bool) {
	b, err := os.ReadFile(metaPath(dir, intentFile))
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
	m.intentMu.Lock()
	defer m.intentMu.Unlock()
	m.intent[rel]++
	if m.intent[rel] > 1 && !m.intentStale {
		return nil
	}
	return m.writeIntentLocked()
}

// intentDone records that one opener of rel closed it. The record is rewritten lazily: a name that
// stays in it only costs a content comparison after a crash.
func (m *Mirror) intentDone(rel string) {
	m.intentMu.Lock()
	defer m.intentMu.Unlock()
	if m.intent[rel] <= 1 {
		delete(m.intent, rel)
		m.intentStale = true
		return
	}
	m.intent[rel]--
}

// intentRename keeps a renamed open file in the record under its new name too.
func (m *Mirror) intentRename(oldRel, newRel string) error {
	m.intentMu.Lock()
	defer m.intentMu.Unlock()
	if m.intent[oldRel] == 0 {
		return nil
	}
	m.intent[newRel] += m.intent[oldRel]
	return m.writeIntentLocked()
}

func (m *Mirror) writeIntentLocked() error {
	r := intentRecord{Open: make([]string, 0, len(m.intent))}
	for rel := range m.intent {
		r.Open = append(r.Open, rel)
	}
	sort.Strings(r.Open)
	m.intentStale = false
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writeFileAtomic(metaPath(m.Target, intentFile), b)
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
	err := os.Remove(metaPath(m.Target, intentFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
