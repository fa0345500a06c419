package meta

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// State is where a mirror stands.
type State string

const (
	StateNew      State = "new"      // never synced
	StateSyncing  State = "syncing"  // a sync is copying; contents may be partial
	StateInSync   State = "in-sync"  // equal to the primary; nothing running
	StateServing  State = "serving"  // a mount keeps it equal to the primary
	StateDegraded State = "degraded" // the mirror missed changes; resync needed
	StatePromoted State = "promoted" // turned into a production environment; no longer a mirror
	// StatePrimaryLost is a live mount's state after its primary was lost (--on-primary-error=failover):
	// it serves from the mirror alone. Status reports it; no record stores it (the mirror that took
	// over records promoted).
	StatePrimaryLost State = "primary-lost"
)

// Identity names a tree as a primary environment: an id that survives restarts and a generation that
// changes at every promotion, so that a stale copy cannot pass for the current one.
type Identity struct {
	ID         string    `json:"id"`
	Generation uint64    `json:"generation"`
	Created    time.Time `json:"created"`
	// PromotedFrom is the identity of the primary that this tree mirrored before it was promoted.
	PromotedFrom string `json:"promoted_from,omitempty"`
	// SupersededBy is set on an old primary when its mirror was promoted past it.
	SupersededBy string `json:"superseded_by,omitempty"`
}

// Record is the mirror's own metadata: whom it mirrors and in what state.
type Record struct {
	Version     int       `json:"version"`
	PrimaryID   string    `json:"primary_id"`
	PrimaryPath string    `json:"primary_path"`
	Generation  uint64    `json:"generation"`
	State       State     `json:"state"`
	Clean       bool      `json:"clean"` // the last writer stopped cleanly
	MountPoint  string    `json:"mount_point,omitempty"`
	BootID      string    `json:"boot_id,omitempty"` // the boot on which a mount served it
	PID         int       `json:"pid,omitempty"`
	Updated     time.Time `json:"updated"`
	LastSync    time.Time `json:"last_sync,omitempty"`
	PromotedAt  time.Time `json:"promoted_at,omitempty"`
	// PrimaryLost is the primary's error that made a mount switch to this mirror while it served
	// (--on-primary-error=failover): the promotion happened online, at PromotedAt.
	PrimaryLost  string `json:"primary_lost,omitempty"`
	DegradedNote string `json:"degraded_note,omitempty"`
	// SyncFailed is what the last sync failed with (state syncing: the mirror is incomplete); the
	// next sync that completes clears it.
	SyncFailed string `json:"sync_failed,omitempty"`
	// NeedsRecovery is set when the mirror was copied from a running environment (sync of an
	// environment not mounted through mirrorctl): only catastrophic recovery makes it consistent.
	NeedsRecovery bool `json:"needs_recovery,omitempty"`
	// Sealed maps a complete log file (relative path) to its SHA-256, recorded when it was sealed.
	Sealed map[string]string `json:"sealed,omitempty"`
	// Engine names the engine of the mirrored files (bdb, sqlite, lmdb), set at the first sync or
	// mount; EngineUndecided while the primary holds no engine's files and none was given (its first
	// database files decide); absent in records written before mirrorctl knew other engines, which
	// mirrored Berkeley DB.
	Engine string `json:"engine,omitempty"`
}

// EngineBDB is the engine a record without Engine names: the only one earlier versions knew.
const EngineBDB = "bdb"

// EngineUndecided is the Engine of a record whose primary held no engine's files at the last start.
const EngineUndecided = "auto"

// EngineName is the engine the record names, Berkeley DB when it names none.
func (r Record) EngineName() string {
	if r.Engine == "" {
		return EngineBDB
	}
	return r.Engine
}

// Degraded is kept on the primary side while the mirror misses changes: the mirror may be unwritable.
type Degraded struct {
	Since  time.Time `json:"since"`
	Reason string    `json:"reason"`
	// Dirty lists the paths changed since Since: what a resync must copy.
	Dirty []string `json:"dirty"`
}

// The files of the metadata area.
const (
	IdentityFile = "identity.json"
	RecordFile   = "mirror.json"
	DegradedFile = "degraded.json"
)

// ErrCorruptMeta is returned when a metadata file cannot be parsed, or holds what no mirrorctl writes.
var ErrCorruptMeta = errors.New("corrupt metadata")

// ErrNewerMeta is returned for a record written by a newer mirrorctl, in a format this one does not know.
var ErrNewerMeta = errors.New("metadata written by a newer mirrorctl")

// RecordVersion is the format version of the record that this program writes and reads; a record of
// a newer version is refused rather than half understood.
const RecordVersion = 1

// Known reports whether s is one of the states above.
func (s State) Known() bool {
	switch s {
	case StateNew, StateSyncing, StateInSync, StateServing, StateDegraded, StatePromoted:
		return true
	}
	return false
}

// Dir is the name of the metadata area at the top of both trees. It is never mirrored, compared or
// shown through the mount.
const Dir = ".mirrorctl"

// Path is the path of the metadata file name in tree dir.
func Path(dir, name string) string { return filepath.Join(dir, Dir, name) }

func readJSON(p string, v any) (bool, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, Explain(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, corrupt(p, err.Error())
	}
	return true, nil
}

// corrupt is the error for the metadata file p that holds what mirrorctl cannot use. Its advice is the
// command that works when followed as written: once the file is moved aside, the mirror is a
// directory that mirrorctl does not know (or the primary a new environment), which sync overwrites
// only with --rebuild-mirror.
func corrupt(p, why string) error {
	tree := filepath.Dir(filepath.Dir(p))
	primary, mirror := "PRIMARY", tree
	if filepath.Base(p) != RecordFile {
		primary, mirror = tree, "MIRROR"
	}
	return fmt.Errorf("%s: %w (%s): move it aside (to %s.corrupt), then rebuild the mirror: mirrorctl sync --rebuild-mirror --primary %s --mirror %s",
		p, ErrCorruptMeta, why, filepath.Base(p), primary, mirror)
}

func writeJSON(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	md := filepath.Join(dir, Dir)
	if err := os.MkdirAll(md, 0o700); err != nil {
		return Explain(err)
	}
	return WriteFileDurable(filepath.Join(md, name), append(b, '\n'))
}

// WriteFileDurable replaces path atomically: write a temporary file, fsync it, rename it over path,
// fsync the directory.
func WriteFileDurable(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return Explain(err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return Explain(err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return Explain(err)
	}
	if err := f.Close(); err != nil {
		return Explain(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return Explain(err)
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir makes the entries of a directory durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

func newID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

// ReadIdentity returns the identity of the environment in dir, and false if it has none yet.
func ReadIdentity(dir string) (Identity, bool, error) {
	var id Identity
	ok, err := readJSON(Path(dir, IdentityFile), &id)
	return id, ok, err
}

// WriteIdentity durably records dir's identity.
func WriteIdentity(dir string, id Identity) error { return writeJSON(dir, IdentityFile, id) }

// EnsureIdentity returns dir's identity, creating generation 1 if it has none.
func EnsureIdentity(dir string) (Identity, error) {
	id, ok, err := ReadIdentity(dir)
	if err != nil || ok {
		return id, err
	}
	id = Identity{ID: newID(), Generation: 1, Created: time.Now().UTC()}
	return id, WriteIdentity(dir, id)
}

// NewGeneration returns the identity a promoted tree takes: a new id, the next generation.
func NewGeneration(old Identity, from string) Identity {
	return Identity{ID: newID(), Generation: old.Generation + 1, Created: time.Now().UTC(), PromotedFrom: from}
}

// ReadRecord returns the mirror record of dir, and false if dir was never a mirror. A record of a
// newer format (ErrNewerMeta) or in a state that no mirrorctl writes (ErrCorruptMeta) is refused.
func ReadRecord(dir string) (Record, bool, error) {
	var r Record
	p := Path(dir, RecordFile)
	ok, err := readJSON(p, &r)
	if err != nil || !ok {
		return r, ok, err
	}
	if r.Version > RecordVersion {
		return Record{}, false, fmt.Errorf("%s: %w (record version %d; this mirrorctl knows %d): upgrade mirrorctl to use this mirror",
			p, ErrNewerMeta, r.Version, RecordVersion)
	}
	if !r.State.Known() {
		return Record{}, false, corrupt(p, fmt.Sprintf("unknown state %q", r.State))
	}
	return r, true, nil
}

// WriteRecord durably records dir's mirror record. While a Mirror is open on dir, the mirror package
// changes the record only through the Mirror's record keeper, and nobody else writes it.
func WriteRecord(dir string, r Record) error { return r.Write(dir) }

// Write stamps r with the format version and the time, then writes it durably as dir's record.
func (r *Record) Write(dir string) error {
	r.Version = RecordVersion
	r.Updated = time.Now().UTC()
	return writeJSON(dir, RecordFile, *r)
}

// Clone copies r deeply enough that the copy's Sealed map can change on its own.
func (r Record) Clone() Record {
	if r.Sealed != nil {
		s := make(map[string]string, len(r.Sealed))
		for k, v := range r.Sealed {
			s[k] = v
		}
		r.Sealed = s
	}
	return r
}

// ReadDegraded returns the degraded marker kept on the primary side, if any.
func ReadDegraded(primary string) (Degraded, bool, error) {
	var d Degraded
	ok, err := readJSON(Path(primary, DegradedFile), &d)
	return d, ok, err
}

// WriteDegraded durably records the degraded marker on the primary side.
func WriteDegraded(primary string, d Degraded) error { return writeJSON(primary, DegradedFile, d) }

// ClearDegraded removes the degraded marker once the mirror is whole again.
func ClearDegraded(primary string) error {
	err := os.Remove(Path(primary, DegradedFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return SyncDir(filepath.Join(primary, Dir))
}

// RemoveIdentity forgets dir's identity (a mirror rebuilt from scratch takes the primary's anew).
func RemoveIdentity(dir string) error {
	if err := os.Remove(Path(dir, IdentityFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Explain(err)
	}
	return nil
}
