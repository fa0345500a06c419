package archive

// A push brings the archive up to the mirror: a snapshot when one is needed, the logs sealed since
// the last push, the open log's new bytes, then the manifest that names them. See doc.go for why a
// snapshot taken this way is consistent.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/meta"
)

// PushReport says what a push did.
type PushReport struct {
	Location   string `json:"location"`
	Generation uint64 `json:"generation"` // the archive's manifest after the push
	Snapshot   string `json:"snapshot,omitempty"`
	Uploaded   int    `json:"uploaded"` // objects uploaded
	Bytes      int64  `json:"bytes"`    // bytes sent (objects, and the parts of multipart uploads)
	// ResumedParts and ResumedBytes are the parts of multipart uploads an interrupted push left in
	// the bucket that this push found intact and did not send again.
	ResumedParts int   `json:"resumed_parts"`
	ResumedBytes int64 `json:"resumed_bytes"`
	// Resumed says the snapshot taken continues one an interrupted push began (and keeps its ID).
	Resumed bool `json:"resumed_snapshot,omitempty"`
	// AbortedUploads are incomplete multipart uploads no push needs any more, aborted after the push.
	AbortedUploads int       `json:"aborted_uploads"`
	NewestLog      uint32    `json:"newest_log"`
	OpenBytes      int64     `json:"open_bytes"` // bytes of the newest log the archive holds (to its last non-zero byte)
	Changed        bool      `json:"changed"`    // a new manifest was written
	Finished       time.Time `json:"finished"`
}

// PushOptions are a push's settings; the zero value takes a snapshot only when the archive needs one.
type PushOptions struct {
	// SnapshotEvery takes a new snapshot once the logs archived after the newest snapshot reach this
	// many bytes (0: never for volume), so that a restore replays at most about that much log.
	SnapshotEvery int64
	// SnapshotInterval takes a new snapshot once this long passed since the newest one was taken and
	// the mirror's log changed after it (0: never for time): a restore replays at most about that
	// much time.
	SnapshotInterval time.Duration
}

// Push brings the archive at s up to the mirror directory mirrorDir (a mirror that mirrorctl keeps).
func Push(ctx context.Context, s *Store, mirrorDir string, eng engine.Core, o PushOptions) (PushReport, error) {
	rep, _, err := PushFrom(ctx, s, mirrorDir, eng, o, nil)
	return rep, err
}

// PushFrom is Push from a manifest the caller holds (the one the last push of the same pusher left,
// so that a push every second does not list the manifests); nil reads the newest. It returns the
// archive's manifest after the push.
func PushFrom(ctx context.Context, s *Store, mirrorDir string, eng engine.Core, o PushOptions, prev *Manifest) (PushReport, Manifest, error) {
	rep := PushReport{Location: s.loc.String()}
	rec, ok, err := meta.ReadRecord(mirrorDir)
	if err != nil {
		return rep, Manifest{}, fmt.Errorf("mirror %s: %w", mirrorDir, err)
	}
	if !ok {
		return rep, Manifest{}, fmt.Errorf("%s is not a mirror that mirrorctl keeps (no %s): give the --mirror of a mount or a sync", mirrorDir, filepath.Join(meta.Dir, meta.RecordFile))
	}
	var m Manifest
	had := prev != nil
	if had {
		m = prev.clone()
	} else if m, had, err = s.LatestManifest(ctx); err != nil {
		return rep, Manifest{}, err
	}
	if had && m.PrimaryID != "" && rec.PrimaryID != "" && m.PrimaryID != rec.PrimaryID {
		return rep, Manifest{}, fmt.Errorf("%w: %s archives another environment (identity %s, this mirror's is %s): give another prefix", ErrForeign, s.loc, m.PrimaryID, rec.PrimaryID)
	}
	kind := rec.EngineName()
	if rec.Engine == meta.EngineUndecided {
		kind = meta.EngineBDB // an undecided mirror is mirrored, and archived, as Berkeley DB's
	}
	if had && m.engine() != kind {
		return rep, Manifest{}, fmt.Errorf("%w: %s archives a %s environment, this mirror holds %s: give another prefix", ErrForeign, s.loc, m.engine(), kind)
	}
	m.PrimaryID, m.Engine = rec.PrimaryID, kind
	prevGen := m.Generation
	p := &pusher{s: s, dir: mirrorDir, eng: eng, rec: rec, rep: &rep}
	if hist, ok := hasLogHistory(eng); ok {
		p.hist = hist
		m, err = p.pushLogHistory(ctx, m, o)
	} else {
		m, err = p.pushSnapshotOnly(ctx, m, o)
	}
	if err != nil {
		return rep, Manifest{}, err
	}
	rep.Generation = prevGen
	if rep.Changed {
		if m, err = s.writeManifest(ctx, m, prevGen); err != nil {
			return rep, Manifest{}, err
		}
		rep.Generation = m.Generation
	}
	if prev == nil || rep.Snapshot != "" {
		// Whatever an interrupted push left incomplete and this one did not resume is abandoned
		// (a pusher's pushes after its first succeeded only look when they took a snapshot).
		if rep.AbortedUploads, err = s.abortAbandoned(ctx, time.Time{}, false); err != nil {
			return rep, m, err
		}
	}
	rep.Finished = time.Now().UTC()
	return rep, m, nil
}

// pushLogHistory is PushFrom's work for an engine with a log history (Berkeley DB), from manifest m:
// a snapshot when one is needed, then the logs.
func (p *pusher) pushLogHistory(ctx context.Context, m Manifest, o PushOptions) (Manifest, error) {
	logs, err := p.hist.Logs(p.dir)
	if err != nil {
		return m, fmt.Errorf("logs of mirror %s: %w", p.dir, err)
	}
	if len(logs) == 0 {
		return m, fmt.Errorf("mirror %s has no log files: nothing to archive", p.dir)
	}
	if ext, err := fileExtent(filepath.Join(p.dir, filepath.FromSlash(logs[len(logs)-1].Rel))); err == nil {
		logs[len(logs)-1].Size = ext // Berkeley DB fills a new log with zeros first
	}
	if needsSnapshot(m, logs, o.SnapshotEvery) || snapshotDue(m, p.dir, logs, o.SnapshotInterval, time.Now()) {
		first := logs[0].Number
		if !p.rec.NeedsRecovery {
			// A mirror copied from a running environment (sync) holds database files that may be
			// older than its last checkpoint: only every log it holds makes it consistent.
			first = firstLogNeeded(ctx, p.hist, p.dir, first)
		}
		id, err := p.s.unfinishedSnapshot(ctx, m)
		if err != nil {
			return m, err
		}
		p.resuming, p.rep.Resumed = id != "", id != ""
		snap, err := p.snapshot(ctx, first, id)
		if err != nil {
			return m, err
		}
		m.Snapshots = append(m.Snapshots, snap)
		p.rep.Snapshot, p.rep.Changed = snap.ID, true
		if logs, err = p.hist.Logs(p.dir); err != nil {
			return m, fmt.Errorf("logs of mirror %s: %w", p.dir, err)
		}
	}
	for i, l := range logs {
		sealed := i < len(logs)-1
		entry, changed, err := p.log(ctx, m, l, sealed)
		if err != nil {
			return m, err
		}
		if changed {
			m.setLog(entry)
			p.rep.Changed = true
		}
		if !sealed {
			p.rep.NewestLog, p.rep.OpenBytes = l.Number, entry.Covered
		}
	}
	return m, nil
}

// needsSnapshot: none yet, the mirror lacks a log between the archive's newest and its own oldest,
// or (every > 0) the mirror's logs after the newest snapshot's last reach every bytes (logs sorted;
// the newest one's Size is its extent, to its last non-zero byte).
func needsSnapshot(m Manifest, logs []engine.LogFile, every int64) bool {
	if len(m.Snapshots) == 0 || logs[0].Number > m.newestLog()+1 {
		return true
	}
	if every <= 0 {
		return false
	}
	last := m.Snapshots[len(m.Snapshots)-1].LastLog
	var n int64
	for _, l := range logs {
		if l.Number > last {
			n += l.Size
		}
	}
	return n >= every
}

// snapshotDue: every > 0, the newest snapshot was taken at least every before now, and the mirror's
// newest log was written after that snapshot ended (an idle mirror gets no new snapshot).
func snapshotDue(m Manifest, dir string, logs []engine.LogFile, every time.Duration, now time.Time) bool {
	if every <= 0 || len(m.Snapshots) == 0 {
		return false
	}
	last := m.Snapshots[len(m.Snapshots)-1]
	if now.Sub(last.Taken) < every {
		return false
	}
	fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(logs[len(logs)-1].Rel)))
	return err != nil || fi.ModTime().After(last.Done)
}

// firstLogNeeded is the first log a catastrophic recovery over a copy of the database files taken
// now needs: the one where normal recovery would start reading (the last checkpoint's ckp_lsn, before
// which every change is in the database files), or the mirror's oldest log when the engine cannot
// tell.
func firstLogNeeded(ctx context.Context, eng engine.Engine, dir string, oldest uint32) uint32 {
	t, err := eng.Tail(ctx, dir)
	if err != nil || t.Start.File < oldest {
		return oldest
	}
	return t.Start.File
}

type pusher struct {
	s    *Store
	dir  string
	eng  engine.Core
	hist engine.Engine // eng, when it has a log history; nil for SQLite (snapshots and WAL)
	rec  meta.Record
	rep  *PushReport
	// resuming: the snapshot taken continues one an interrupted push began (its objects may exist).
	resuming bool
}

// snapshot copies the mirror's files but the logs (and the regions recovery rebuilds, and the
// metadata area) into snapshots/<ID>/; id is the ID of the snapshot an interrupted push began,
// which this one takes over ("": a new one, named by the time now).
func (p *pusher) snapshot(ctx context.Context, firstLog uint32, id string) (Snapshot, error) {
	taken := time.Now().UTC()
	if id == "" {
		id = formatSnapshotID(taken)
	}
	snap := Snapshot{ID: id, Taken: taken, FirstLog: firstLog}
	rels, err := databaseFiles(p.eng, p.dir)
	if err != nil {
		return snap, fmt.Errorf("snapshot of mirror %s: %w", p.dir, err)
	}
	for _, rel := range rels {
		obj, err := p.uploadFile(ctx, "snapshots/"+snap.ID+"/"+rel, filepath.Join(p.dir, filepath.FromSlash(rel)))
		if err != nil {
			return snap, err
		}
		snap.Files = append(snap.Files, File{Rel: rel, Object: obj})
	}
	logs, err := p.hist.Logs(p.dir)
	if err != nil || len(logs) == 0 {
		return snap, fmt.Errorf("logs of mirror %s after the snapshot's copy: %v", p.dir, err)
	}
	snap.LastLog, snap.Done = logs[len(logs)-1].Number, time.Now().UTC()
	return snap, nil
}

// uploadFile streams a file into a new object, hashing it on the way, and verifies it.
func (p *pusher) uploadFile(ctx context.Context, name, path string) (Object, error) {
	f, err := os.Open(path)
	if err != nil {
		return Object{}, fmt.Errorf("snapshot %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Object{}, fmt.Errorf("snapshot %s: %w", path, err)
	}
	if p.resuming {
		if obj, ok, err := p.completedEarlier(ctx, name, f, fi.Size()); err != nil || ok {
			return obj, err
		}
	}
	// Hashed as it is sent: the object's checksum is that of the bytes uploaded, read once.
	obj, tr, err := p.s.putVerified(ctx, name, f, fi.Size(), "")
	p.count(tr)
	if err != nil {
		return obj, err
	}
	p.rep.Uploaded++
	return obj, nil
}

// completedEarlier reuses the object name that an interrupted push completed, when it holds the
// bytes the file holds now (read now: the copy is this push's, as consistent as a new upload).
func (p *pusher) completedEarlier(ctx context.Context, name string, f *os.File, size int64) (Object, bool, error) {
	exists, _, err := p.s.stat(ctx, name)
	if err != nil || !exists {
		return Object{}, false, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		return Object{}, false, fmt.Errorf("snapshot %s: %w", f.Name(), err)
	}
	local := hex.EncodeToString(h.Sum(nil))
	got, n, err := p.s.hashObject(ctx, name)
	if err != nil || got != local || n != size {
		return Object{}, false, err // changed since: upload it again
	}
	p.rep.ResumedBytes += n
	return Object{Key: name, Size: n, SHA256: got}, true, nil
}

// unfinishedSnapshot is the ID of the snapshot an interrupted push began after the manifest's newest
// (objects or incomplete uploads below snapshots/<ID>/ that no manifest names), "" when none.
func (s *Store) unfinishedSnapshot(ctx context.Context, m Manifest) (string, error) {
	known := map[string]bool{}
	newest := ""
	for _, sn := range m.Snapshots {
		known[sn.ID], newest = true, max(newest, sn.ID)
	}
	names, err := s.list(ctx, "snapshots")
	if err != nil {
		return "", err
	}
	ups, err := s.pendingUploads(ctx, s.loc.key("snapshots/"))
	if err != nil {
		return "", err
	}
	for _, u := range ups {
		names = append(names, strings.TrimPrefix(strings.TrimPrefix(u.key, s.loc.Prefix), "/"))
	}
	best := ""
	for _, n := range names {
		id, _, ok := strings.Cut(strings.TrimPrefix(n, "snapshots/"), "/")
		if _, valid := parseSnapshotID(id); ok && valid && !known[id] && id > newest && id > best {
			best = id
		}
	}
	return best, nil
}

// log uploads log l when the manifest lacks it (sealed) or it grew (open: only the new bytes, as a
// part), and returns its manifest entry and whether it changed.
func (p *pusher) log(ctx context.Context, m Manifest, l engine.LogFile, sealed bool) (Log, bool, error) {
	have, _, ok := m.log(l.Number)
	if ok && have.Sealed {
		return have, false, nil
	}
	path := filepath.Join(p.dir, filepath.FromSlash(l.Rel))
	fi, err := os.Stat(path)
	if err != nil {
		return Log{}, false, fmt.Errorf("log %s of mirror %s: %w", l.Rel, p.dir, err)
	}
	// Log files are small (set_lg_max, 10 MiB by default): read whole, so that the bytes hashed are
	// the bytes sent even while the open log grows.
	b, err := os.ReadFile(path)
	if err != nil {
		return Log{}, false, fmt.Errorf("log %s of mirror %s: %w", l.Rel, p.dir, err)
	}
	sum := sha256Hex(b)
	entry := Log{Rel: l.Rel, Number: l.Number, Sealed: sealed, Modified: fi.ModTime().UTC()}
	if sealed {
		if want, ok := p.rec.Sealed[l.Rel]; ok && want != sum {
			return Log{}, false, fmt.Errorf("%w: log %s on mirror %s has SHA-256 %s, sealed as %s: the mirror's copy is damaged; not archived", ErrCorrupt, l.Rel, p.dir, sum, want)
		}
		obj, err := p.immutable(ctx, "logs/"+l.Rel, b, l.Rel)
		if err != nil {
			return Log{}, false, err
		}
		entry.Object = obj
		return entry, true, nil
	}
	// Berkeley DB fills a new log with zeros to its full size, then writes records over them: the
	// bytes that matter end at the last non-zero byte. The archive holds them (Covered) and the
	// file's size; a push sends what follows Covered when the bytes held are still the file's prefix
	// (else the whole content again).
	covered := lastNonZero(b)
	if ok && have.Size == int64(len(b)) && have.SHA256 == sum {
		return have, false, nil
	}
	from := int64(0)
	if ok && have.Covered <= covered && sha256Hex(b[:have.Covered]) == have.CoveredSHA256 {
		from, entry.Parts = have.Covered, have.Parts
	}
	if part := b[from:covered]; len(part) > 0 || len(entry.Parts) == 0 {
		name := fmt.Sprintf("logs/%s.part.%d.%d.%s", l.Rel, from, len(part), sha256Hex(part)[:16])
		obj, err := p.immutable(ctx, name, part, l.Rel)
		if err != nil {
			return Log{}, false, err
		}
		entry.Parts = append(append([]Part(nil), entry.Parts...), Part{Offset: from, Object: obj})
	}
	entry.Object = Object{Size: int64(len(b)), SHA256: sum}
	entry.Covered, entry.CoveredSHA256 = covered, sha256Hex(b[:covered])
	return entry, true, nil
}

// lastNonZero is the length of b without its trailing zero bytes.
func lastNonZero(b []byte) int64 {
	i := len(b)
	for i > 0 && b[i-1] == 0 {
		i--
	}
	return int64(i)
}

// fileExtent is lastNonZero of a file, reading it backwards from its end until a non-zero byte.
func fileExtent(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 64<<10)
	for end := fi.Size(); end > 0; {
		start := max(0, end-int64(len(buf)))
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && n < int(end-start) {
			return 0, err
		}
		if k := lastNonZero(buf[:n]); k > 0 {
			return start + k, nil
		}
		end = start
	}
	return 0, nil
}

// immutable uploads b as name, or reuses name when an earlier push uploaded it (and failed before
// its manifest) with these very bytes; an object of that name with other bytes is refused.
func (p *pusher) immutable(ctx context.Context, name string, b []byte, rel string) (Object, error) {
	sum := sha256Hex(b)
	exists, stored, err := p.s.stat(ctx, name)
	if err != nil {
		return Object{}, err
	}
	if exists {
		if stored != sum {
			return Object{}, fmt.Errorf("%w: %s exists with SHA-256 %s, the mirror's %s has %s: this prefix archives another environment or an earlier life of it; give another prefix", ErrForeign, p.s.loc.url(p.s.loc.key(name)), stored, rel, sum)
		}
		got, n, err := p.s.hashObject(ctx, name)
		if err != nil {
			return Object{}, err
		}
		if got != sum || n != int64(len(b)) {
			return Object{}, fmt.Errorf("%w: %s hashes to %s, its metadata says %s: remove it and push again", ErrCorrupt, p.s.loc.url(p.s.loc.key(name)), got, sum)
		}
		return Object{Key: name, Size: n, SHA256: sum}, nil
	}
	obj, tr, err := p.s.putVerified(ctx, name, bytes.NewReader(b), int64(len(b)), sum)
	p.count(tr)
	if err != nil {
		return Object{}, err
	}
	p.rep.Uploaded++
	return obj, nil
}

// count adds what an upload sent, and what it found in the bucket already, to the report.
func (p *pusher) count(tr Transfer) {
	p.rep.Bytes += tr.Sent
	p.rep.ResumedParts += tr.ResumedParts
	p.rep.ResumedBytes += tr.ResumedBytes
}

// databaseFiles lists, sorted, the regular files of an environment directory that a copy of it
// takes first: all but its logs, the regions recovery rebuilds, and the metadata area.
func databaseFiles(eng engine.Core, dir string) ([]string, error) {
	var rels []string
	err := walkEnvFiles(dir, func(path, rel string) error {
		switch eng.Classify(rel) {
		case engine.ClassLog, engine.ClassRegion:
			return nil
		}
		rels = append(rels, rel)
		return nil
	})
	sort.Strings(rels)
	return rels, err
}

// walkEnvFiles calls fn with the path and the slash-separated relative path of every regular file of
// an environment directory, the metadata area left out.
func walkEnvFiles(dir string, fn func(path, rel string) error) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == meta.Dir {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return fn(path, rel)
	})
}
