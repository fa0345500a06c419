package detect

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/mirrorctl/mirrorctl/engine/bdb"
	"golang.org/x/sys/unix"
)

// Kind names an engine.
type Kind string

const (
	None   Kind = "none" // no file of any engine
	BDB    Kind = "bdb"
	SQLite Kind = "sqlite"
	LMDB   Kind = "lmdb"
)

// Title is the engine's name for people.
func (k Kind) Title() string {
	switch k {
	case BDB:
		return "Berkeley DB"
	case SQLite:
		return "SQLite"
	case LMDB:
		return "LMDB"
	default:
		return "no engine"
	}
}

// Result is what Detect found.
type Result struct {
	Kind Kind
	// Files are the files that belong to the engine, relative to the directory, sorted.
	Files []string
}

// String names the engine and its files, for messages: "SQLite (app.db, app.db-wal)".
func (r Result) String() string {
	if r.Kind == None {
		return r.Kind.Title()
	}
	return r.Kind.Title() + " (" + listFiles(r.Files) + ")"
}

// MixedError is Detect's refusal of a directory whose files belong to more than one engine.
type MixedError struct {
	Dir   string
	Files map[Kind][]string // relative, sorted
}

func (e *MixedError) Error() string {
	kinds := make([]Kind, 0, len(e.Files))
	for k := range e.Files {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return kinds[i] < kinds[j] })
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = Result{Kind: k, Files: e.Files[k]}.String()
	}
	return fmt.Sprintf("%s holds the files of more than one engine: %s: one directory serves one engine; move the other engine's files to a directory of their own",
		e.Dir, strings.Join(parts, ", "))
}

// listFiles names up to five files, and how many more there are.
func listFiles(files []string) string {
	const shown = 5
	if len(files) <= shown {
		return strings.Join(files, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(files[:shown], ", "), len(files)-shown)
}

// metaDir is mirrorctl's metadata directory at the top of a tree (package meta's Dir; engine
// packages import nothing of mirrorctl's).
const metaDir = ".mirrorctl"

// Detect says which engine the files under dir belong to: None when no file belongs to any, the
// engine when all that belong to one belong to the same, and a *MixedError naming the files of each
// when they belong to several. skip, if set, names paths (relative, slash-separated) not looked at:
// what the mirror leaves out.
func Detect(dir string, skip func(rel string) bool) (Result, error) {
	root, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Result{}, fmt.Errorf("detect the engine of %s: %w", dir, err)
	}
	w := walker{skip: skip, found: map[Kind][]string{}}
	if err := w.dir(root, "."); err != nil {
		return Result{}, fmt.Errorf("detect the engine of %s: %w", dir, err)
	}
	found := w.found
	if len(w.sqliteDBs) > 0 {
		dbs := map[string]bool{}
		for _, rel := range w.sqliteDBs {
			dbs[rel] = true
		}
		found[SQLite] = w.sqliteDBs
		for _, rel := range w.sqliteAux {
			if dbs[sqliteSidecar(rel)] {
				found[SQLite] = append(found[SQLite], rel)
			}
		}
	}
	for _, files := range found {
		sort.Strings(files)
	}
	switch len(found) {
	case 0:
		return Result{Kind: None}, nil
	case 1:
		for k, files := range found {
			return Result{Kind: k, Files: files}, nil
		}
	}
	return Result{}, &MixedError{Dir: dir, Files: found}
}

// walker is one Detect's walk of a tree. Directories are opened relative to their parent's
// descriptor, never by a full path, so a tree deeper than PATH_MAX is walked too.
type walker struct {
	skip                 func(rel string) bool
	found                map[Kind][]string // all but SQLite's
	sqliteDBs, sqliteAux []string          // SQLite's databases, and names that may be their journals
}

// dir looks at the entries of directory fd (rel in the tree) and closes fd.
func (w *walker) dir(fd int, rel string) error {
	d := os.NewFile(uintptr(fd), rel)
	defer d.Close()
	ents, err := d.ReadDir(-1)
	if err != nil {
		return err
	}
	for _, e := range ents {
		child := path.Join(rel, e.Name())
		if rel == "." && e.Name() == metaDir || w.skip != nil && w.skip(child) {
			continue
		}
		switch {
		case e.IsDir():
			sub, err := unix.Openat(fd, e.Name(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("open %s: %w", child, err)
			}
			if err := w.dir(sub, child); err != nil {
				return err
			}
		case e.Type().IsRegular():
			if err := w.file(fd, e.Name(), child); err != nil {
				return err
			}
		}
	}
	return nil
}

// file looks at regular file name in directory dirfd (rel in the tree).
func (w *walker) file(dirfd int, name, rel string) error {
	k, err := classify(dirfd, name)
	if err != nil {
		return fmt.Errorf("read %s: %w", rel, err)
	}
	switch {
	case k == SQLite:
		w.sqliteDBs = append(w.sqliteDBs, rel)
	case k != None:
		w.found[k] = append(w.found[k], rel)
	case sqliteSidecar(rel) != "":
		w.sqliteAux = append(w.sqliteAux, rel)
	}
	return nil
}

// sqliteSidecar returns the database a SQLite journal, WAL or shared-memory file belongs to by its
// name ("app.db-wal" → "app.db"), or "" for any other name.
func sqliteSidecar(rel string) string {
	for _, suffix := range []string{"-journal", "-wal", "-shm"} {
		if db, ok := strings.CutSuffix(rel, suffix); ok && db != "" && !strings.HasSuffix(db, "/") {
			return db
		}
	}
	return ""
}

// sqliteHeader is the first 16 bytes of every SQLite database file.
var sqliteHeader = []byte("SQLite format 3\x00")

// Berkeley DB's metadata page (page 0) holds the access method's magic number at byte 12, in the
// byte order of the machine that created the file.
const bdbMagicOffset = 12

var bdbMagics = map[uint32]bool{
	0x053162: true, // btree (and recno)
	0x061561: true, // hash
	0x042253: true, // queue
	0x074582: true, // heap
}

// classify says which engine the regular file name in directory dirfd belongs to, by its name or
// its first bytes.
func classify(dirfd int, name string) (Kind, error) {
	switch {
	case name == "data.mdb" || name == "lock.mdb":
		return LMDB, nil
	case name == "DB_CONFIG" || bdb.IsRegionName(name):
		return BDB, nil
	}
	if _, ok := bdb.ParseLogName(name); ok {
		return BDB, nil
	}
	head, err := readHead(dirfd, name, 16)
	if err != nil {
		return None, err
	}
	if bytes.Equal(head, sqliteHeader) {
		return SQLite, nil
	}
	if len(head) == 16 {
		m := head[bdbMagicOffset:16]
		if bdbMagics[binary.LittleEndian.Uint32(m)] || bdbMagics[binary.BigEndian.Uint32(m)] {
			return BDB, nil
		}
	}
	return None, nil
}

// readHead returns the first n bytes of file name in directory dirfd (fewer when it is shorter).
func readHead(dirfd int, name string, n int) ([]byte, error) {
	// O_NONBLOCK: a file that turned into a FIFO since it was listed must not hang the walk.
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	b := make([]byte, n)
	k := 0
	for k < n {
		r, err := unix.Pread(fd, b[k:], int64(k))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if r == 0 {
			break
		}
		k += r
	}
	return b[:k], nil
}
