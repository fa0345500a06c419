package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Manifest is what an archive holds; the newest generation is the archive.
type Manifest struct {
	Version    int       `json:"version"`
	Generation uint64    `json:"generation"`
	Written    time.Time `json:"written"`
	// PrimaryID is the identity of the environment archived (the mirror's record names it): a push
	// from a mirror of another environment is refused.
	PrimaryID string `json:"primary_id,omitempty"`
	// Engine is the engine of the environment archived, as the mirror's record names it ("bdb",
	// "sqlite"; absent in manifests written before mirrorctl knew other engines: Berkeley DB).
	Engine    string     `json:"engine,omitempty"`
	Snapshots []Snapshot `json:"snapshots"`
	Logs      []Log      `json:"logs"` // by number, no two with one number
	// WALs are, for SQLite, the WALs shipped after snapshots (wal.go).
	WALs []WAL `json:"wals,omitempty"`
}

// Snapshot is a copy of the environment's files (without logs) and the logs it needs.
type Snapshot struct {
	ID    string    `json:"id"`
	Taken time.Time `json:"taken"` // when the copy started: it holds no commit after Done
	Done  time.Time `json:"done"`  // when the copy ended
	// FirstLog is the first log catastrophic recovery over the files reads; LastLog the newest log
	// when the copy ended: the archive holds at least the bytes of it written by then.
	FirstLog uint32 `json:"first_log"`
	LastLog  uint32 `json:"last_log"`
	Files    []File `json:"files"`
	// Source is, for an engine without a log history (FirstLog 0), what the mirror's files looked
	// like when they were copied: the copy is of the mirror from Taken to Done, when none changed.
	Source []FileStamp `json:"source,omitempty"`
}

// hasLogs says whether a restore of the snapshot replays logs after it (an engine with a log
// history: log numbers start at 1).
func (s Snapshot) hasLogs() bool { return s.FirstLog != 0 }

// File is one file of a snapshot.
type File struct {
	Rel string `json:"rel"` // relative to the environment directory, slash-separated
	Object
}

// Log is one log file: sealed (complete, one object), or the bytes of the open log at a push (the
// parts, each the bytes a push added; Size and SHA256 are then those of the whole, Key is empty).
type Log struct {
	Rel      string    `json:"rel"`
	Number   uint32    `json:"number"`
	Sealed   bool      `json:"sealed"`
	Modified time.Time `json:"modified"` // the file's modification time on the mirror when uploaded
	Object
	Parts []Part `json:"parts,omitempty"`
	// Covered is how far the parts go (the open log to its last non-zero byte; the rest of Size is
	// zeros), and CoveredSHA256 the checksum of those bytes.
	Covered       int64  `json:"covered,omitempty"`
	CoveredSHA256 string `json:"covered_sha256,omitempty"`
}

// Part is a run of an open log's bytes, from Offset.
type Part struct {
	Offset int64 `json:"offset"`
	Object
}

const manifestVersion = 1

// formatManifestName and parseManifestName are the manifest objects' names: by generation, so that
// the names sort in generation order.
func formatManifestName(gen uint64) string { return fmt.Sprintf("manifests/%020d.json", gen) }

func parseManifestName(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, "manifests/")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".json")
	if !ok || len(s) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}

const snapshotIDLayout = "20060102T150405.000000000Z"

// formatSnapshotID and parseSnapshotID name a snapshot by the time its copy first started (UTC, to
// the nanosecond): the names sort in time order.
func formatSnapshotID(t time.Time) string { return t.UTC().Format(snapshotIDLayout) }

func parseSnapshotID(id string) (time.Time, bool) {
	t, err := time.Parse(snapshotIDLayout, id)
	if err != nil || formatSnapshotID(t) != id {
		return time.Time{}, false
	}
	return t, true
}

// LatestManifest reads the newest manifest; ok is false when the location holds none.
func (s *Store) LatestManifest(ctx context.Context) (Manifest, bool, error) {
	names, err := s.list(ctx, "manifests")
	if err != nil {
		return Manifest{}, false, err
	}
	var best uint64
	for _, n := range names {
		if g, ok := parseManifestName(n); ok && g > best {
			best = g
		}
	}
	if best == 0 {
		return Manifest{}, false, nil
	}
	m, err := s.readManifest(ctx, best)
	if err != nil {
		return Manifest{}, false, err
	}
	return m, true, nil
}

// readManifest reads the manifest of generation gen.
func (s *Store) readManifest(ctx context.Context, gen uint64) (Manifest, error) {
	name := formatManifestName(gen)
	var buf bytes.Buffer
	if _, err := s.download(ctx, name, &buf); err != nil {
		return Manifest{}, err
	}
	var m Manifest
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		return Manifest{}, fmt.Errorf("%w: manifest %s does not parse (%v): restore from an earlier generation", ErrCorrupt, s.loc.url(s.loc.key(name)), err)
	}
	if m.Version != manifestVersion || m.Generation != gen {
		return Manifest{}, fmt.Errorf("%w: manifest %s says version %d generation %d: it is not one this mirrorctl writes", ErrCorrupt, s.loc.url(s.loc.key(name)), m.Version, m.Generation)
	}
	return m, nil
}

// writeManifest writes m as the next generation after prev (0: none). It refuses when that
// generation exists already: another push wrote it meanwhile.
func (s *Store) writeManifest(ctx context.Context, m Manifest, prev uint64) (Manifest, error) {
	m.Version, m.Generation, m.Written = manifestVersion, prev+1, time.Now().UTC()
	sort.Slice(m.Logs, func(i, j int) bool { return m.Logs[i].Number < m.Logs[j].Number })
	name := formatManifestName(m.Generation)
	exists, _, err := s.stat(ctx, name)
	if err != nil {
		return m, err
	}
	if exists {
		return m, fmt.Errorf("manifest %s exists already: another push wrote it meanwhile; run one pusher per archive", s.loc.url(s.loc.key(name)))
	}
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return m, err
	}
	if _, err := s.putBytes(ctx, name, append(b, '\n')); err != nil {
		return m, err
	}
	return m, nil
}

// engine is the manifest's engine, Berkeley DB for a manifest that names none.
func (m Manifest) engine() string {
	if m.Engine == "" {
		return "bdb"
	}
	return m.Engine
}

// newestLog is the highest log number the manifest holds (0: none).
func (m Manifest) newestLog() uint32 {
	if len(m.Logs) == 0 {
		return 0
	}
	return m.Logs[len(m.Logs)-1].Number
}

// log returns the manifest's entry for log number n.
func (m Manifest) log(n uint32) (Log, int, bool) {
	for i, l := range m.Logs {
		if l.Number == n {
			return l, i, true
		}
	}
	return Log{}, -1, false
}

// setLog puts l into the manifest, replacing the entry of its number.
func (m *Manifest) setLog(l Log) {
	if _, i, ok := m.log(l.Number); ok {
		m.Logs[i] = l
		return
	}
	m.Logs = append(m.Logs, l)
	sort.Slice(m.Logs, func(i, j int) bool { return m.Logs[i].Number < m.Logs[j].Number })
}

// snapshotFor returns the newest snapshot whose copy ended by until (zero: the newest of all).
func (m Manifest) snapshotFor(until time.Time) (Snapshot, bool) {
	for i := len(m.Snapshots) - 1; i >= 0; i-- {
		if until.IsZero() || !m.Snapshots[i].Done.After(until) {
			return m.Snapshots[i], true
		}
	}
	return Snapshot{}, false
}

// clone copies m so that a push can change the copy's lists without touching m's.
func (m Manifest) clone() Manifest {
	m.Snapshots = append([]Snapshot(nil), m.Snapshots...)
	m.Logs = append([]Log(nil), m.Logs...)
	m.WALs = append([]WAL(nil), m.WALs...)
	return m
}
