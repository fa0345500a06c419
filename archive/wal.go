package archive

// SQLite's WAL shipped between snapshots. While a database file keeps the bytes the newest snapshot
// copied (no checkpoint wrote into it since), every commit since is in its -wal, and that WAL replayed
// over the snapshot's database gives the database now: the snapshot is the same bytes with the WAL
// of its time already checkpointed into them, and WAL frames are whole pages, replayed in order, so
// the frames the snapshot holds already are written again to the same bytes. A WAL that SQLite
// restarted (a new salt, written again from its start) restarts only after a checkpoint that
// backfilled every frame, so its old frames are in the snapshot's database already. A push therefore
// ships, while only WALs changed, the bytes each WAL gained since the last push (a part, after
// checking that the bytes shipped are still its prefix, else its whole content again), checking
// after the read that no database file changed meanwhile (else it takes a snapshot). A torn last
// frame, read while it was written, fails SQLite's frame checksums and is ignored at the restore's
// replay. Once a database file changes, a snapshot is needed; the WALs shipped apply to the snapshot
// they name.

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// WAL is the write-ahead log of one database shipped after a snapshot, to be replayed over that
// snapshot's database file.
type WAL struct {
	Rel      string    `json:"rel"`      // the -wal file, relative to the environment directory
	Snapshot string    `json:"snapshot"` // the ID of the snapshot it applies over
	Parts    []WALPart `json:"parts"`    // from offset 0, contiguous
	// Covered is how far the parts go, CoveredSHA256 the checksum of those bytes, Stamp the file as
	// it was when its newest part was read.
	Covered       int64     `json:"covered"`
	CoveredSHA256 string    `json:"covered_sha256"`
	Stamp         FileStamp `json:"stamp"`
}

// WALPart is a run of a WAL's bytes and when the push that read them ended: a restore to a moment
// takes the parts pushed by then (their bytes were all written by then).
type WALPart struct {
	Part
	Pushed time.Time `json:"pushed"`
}

func isWAL(rel string) bool { return strings.HasSuffix(rel, "-wal") }

// heldStamps is what the archive holds of the mirror's files: the newest snapshot's stamps, with
// those of the WALs shipped after it.
func heldStamps(m Manifest) []FileStamp {
	if len(m.Snapshots) == 0 {
		return nil
	}
	last := m.Snapshots[len(m.Snapshots)-1]
	held := append([]FileStamp(nil), last.Source...)
	for _, w := range m.WALs {
		if w.Snapshot != last.ID {
			continue
		}
		found := false
		for i := range held {
			if held[i].Rel == w.Rel {
				held[i], found = w.Stamp, true
			}
		}
		if !found {
			held = append(held, w.Stamp)
		}
	}
	return held
}

// sameButWALs says whether a and b stamp the same files but WALs alike.
func sameButWALs(a, b []FileStamp) bool {
	strip := func(s []FileStamp) []FileStamp {
		var out []FileStamp
		for _, f := range s {
			if !isWAL(f.Rel) {
				out = append(out, f)
			}
		}
		return out
	}
	return sameStamps(strip(a), strip(b))
}

// wal returns the manifest's newest entry for the WAL rel shipped after snapshot id. A WAL has a new
// entry each time the bytes shipped were no longer its prefix (SQLite restarted it, or a frame was
// read while it was written): the older entries stay, so that a restore to a moment before finds
// what was shipped by then.
func (m Manifest) wal(id, rel string) (WAL, int, bool) {
	for i := len(m.WALs) - 1; i >= 0; i-- {
		if w := m.WALs[i]; w.Snapshot == id && w.Rel == rel {
			return w, i, true
		}
	}
	return WAL{}, -1, false
}

// wholeFrames trims a WAL's bytes to its header and whole frames (a frame being written as it was
// read is left for the next push); bytes that are not a WAL are left as they are.
func wholeFrames(b []byte) []byte {
	const header, frameHeader = 32, 24
	if len(b) < header {
		return b
	}
	if m := binary.BigEndian.Uint32(b); m != 0x377f0682 && m != 0x377f0683 {
		return b
	}
	page := int(binary.BigEndian.Uint32(b[8:]))
	if page == 1 {
		page = 65536
	}
	if page < 512 {
		return b
	}
	frame := frameHeader + page
	return b[:header+(len(b)-header)/frame*frame]
}

// shipWALs ships the WALs whose stamps differ from those the archive holds (now: the mirror's
// stamps, in which only WALs differ). It returns false when a database file changed while the WALs
// were read: the caller takes a snapshot instead.
func (p *pusher) shipWALs(ctx context.Context, m Manifest, held, now []FileStamp) (Manifest, bool, error) {
	last := m.Snapshots[len(m.Snapshots)-1]
	had := map[string]FileStamp{}
	for _, s := range held {
		had[s.Rel] = s
	}
	type read struct {
		stamp FileStamp
		b     []byte
	}
	var reads []read
	for _, s := range now {
		if !isWAL(s.Rel) || had[s.Rel] == s {
			continue
		}
		// A WAL is read whole: SQLite checkpoints it back into the database every 1000 pages by
		// default, so it stays a few MiB.
		b, err := os.ReadFile(filepath.Join(p.dir, filepath.FromSlash(s.Rel)))
		if err != nil {
			return m, false, fmt.Errorf("WAL %s of mirror %s: %w", s.Rel, p.dir, err)
		}
		if w := wholeFrames(b); len(w) < len(b) {
			b, s.Size = w, -1 // not all of it: the next push looks again
		}
		reads = append(reads, read{s, b})
	}
	pushed := time.Now().UTC()
	after, err := stampFiles(p.eng, p.dir)
	if err != nil {
		return m, false, fmt.Errorf("mirror %s: %w", p.dir, err)
	}
	if !sameButWALs(now, after) {
		return m, false, nil
	}
	for _, r := range reads {
		entry, i, ok := m.wal(last.ID, r.stamp.Rel)
		from := int64(0)
		var parts []WALPart
		if ok && entry.Covered <= int64(len(r.b)) && sha256Hex(r.b[:entry.Covered]) == entry.CoveredSHA256 {
			from, parts = entry.Covered, entry.Parts
		}
		if ok && from > 0 && from == int64(len(r.b)) && r.stamp.Size < 0 {
			continue // nothing new but a frame being written: the next push looks again
		}
		if part := r.b[from:]; len(part) > 0 || len(parts) == 0 {
			name := fmt.Sprintf("wal/%s/%s.part.%d.%d.%s", last.ID, r.stamp.Rel, from, len(part), sha256Hex(part)[:16])
			obj, err := p.immutable(ctx, name, part, r.stamp.Rel)
			if err != nil {
				return m, false, err
			}
			parts = append(append([]WALPart(nil), parts...), WALPart{Part: Part{Offset: from, Object: obj}, Pushed: pushed})
		}
		next := WAL{Rel: r.stamp.Rel, Snapshot: last.ID, Parts: parts, Covered: int64(len(r.b)), CoveredSHA256: sha256Hex(r.b), Stamp: r.stamp}
		if ok && from > 0 { // the same WAL, grown
			m.WALs = append(append([]WAL(nil), m.WALs[:i]...), append([]WAL{next}, m.WALs[i+1:]...)...)
		} else { // a new one, or no longer the prefix of what was shipped: a new entry
			m.WALs = append(append([]WAL(nil), m.WALs...), next)
		}
		p.rep.Changed = true
	}
	return m, true, nil
}

// fetchWALs downloads the WALs shipped after snapshot id into dir, each part checked, with only the
// parts pushed by until (zero: all): the restart that follows replays them over the databases.
func fetchWALs(ctx context.Context, s *Store, dir string, m Manifest, id string, until time.Time, r *RestoreReport) error {
	// Of each WAL, the newest entry whose first part was pushed by until.
	chosen := map[string]WAL{}
	var order []string
	for _, w := range m.WALs {
		if w.Snapshot != id || len(w.Parts) == 0 || (!until.IsZero() && w.Parts[0].Pushed.After(until)) {
			continue
		}
		if _, ok := chosen[w.Rel]; !ok {
			order = append(order, w.Rel)
		}
		chosen[w.Rel] = w
	}
	for _, rel := range order {
		w := chosen[rel]
		var parts []WALPart
		for _, pt := range w.Parts {
			if !until.IsZero() && pt.Pushed.After(until) {
				break
			}
			parts = append(parts, pt)
		}
		if len(parts) == 0 {
			continue
		}
		path, err := targetPath(dir, w.Rel)
		if err != nil {
			return err
		}
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("restore %s: %w", path, err)
		}
		for _, pt := range parts {
			if err := s.fetchPart(ctx, pt.Part, f); err != nil {
				f.Close()
				return err
			}
			r.Bytes += pt.Size
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("restore %s: %w", path, err)
		}
		r.Logs++
		if t := parts[len(parts)-1].Pushed; r.SnapshotOf == nil || t.After(*r.SnapshotOf) {
			r.SnapshotOf = &t
		}
	}
	return nil
}
