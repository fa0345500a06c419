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
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"golang.org/x/sys/unix"

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
	written int            // the record file's length as last written; -1: unknown
}

// The record is rewritten in place, not replaced by a rename: a rename (and the new inode before
// it) is two namespace transactions on the mirror's file system for every file created, which its
// next fsync then has to write. In place, a write cut short by the process's death could leave a mix
// of two records, so the record starts with a header, "CRC32 LENGTH\n" (the checksum of the JSON
// that follows, in hex, and its length): a record whose checksum does not match is not whole, and
// the next start compares everything by content. Bytes beyond the length are ignored.

// ReadIntent returns the files that were open for writing when the last mount stopped, and whether the
// record exists and is whole.
func ReadIntent(dir string) ([]string, bool) {
	b, err := os.ReadFile(meta.Path(dir, intentFile))
	if err != nil {
		return nil, false
	}
	body, ok := intentBody(b)
	if !ok {
		return nil, false
	}
	var r intentRecord
	if json.Unmarshal(body, &r) != nil {
		return nil, false
	}
	return r.Open, true
}

// intentBody checks the record's header and returns the JSON it covers. A record without a header
// (written by an earlier version, by rename) is taken whole.
func intentBody(b []byte) ([]byte, bool) {
	if len(b) > 0 && b[0] == '{' {
		return b, true
	}
	header, rest, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return nil, false
	}
	var sum uint32
	var n int
	if _, err := fmt.Sscanf(string(header), "%08x %d", &sum, &n); err != nil || n < 0 || n > len(rest) {
		return nil, false
	}
	body := rest[:n]
	return body, crc32.ChecksumIEEE(body) == sum
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
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b := append([]byte(fmt.Sprintf("%08x %d\n", crc32.ChecksumIEEE(body), len(body))), body...)
	n, err := writeFileInPlace(meta.Path(m.Target, intentFile), b, m.intent.written)
	m.intent.written = n
	return err
}

// writeFileInPlace writes data at the start of path, creating it, and cuts the file to data's
// length when it may be longer (prev, what the last call wrote: -1 when unknown). It returns what
// the file may hold now, for the next call. No fsync: see the invariant above.
func writeFileInPlace(path string, data []byte, prev int) (int, error) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if errors.Is(err, unix.ENOENT) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return -1, err
		}
		fd, err = unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	}
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := pwriteAll(fd, data, 0); err != nil {
		return -1, fmt.Errorf("write %s: %w", path, err)
	}
	if prev < 0 || prev > len(data) {
		if err := unix.Ftruncate(fd, int64(len(data))); err != nil {
			return -1, fmt.Errorf("truncate %s: %w", path, err)
		}
	}
	return len(data), nil
}

// clearIntent removes the record at a clean stop.
func (m *Mirror) clearIntent() error {
	m.intent.mu.Lock()
	m.intent.written = -1
	m.intent.mu.Unlock()
	err := os.Remove(meta.Path(m.Target, intentFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
