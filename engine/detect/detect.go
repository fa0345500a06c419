package detect

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/mirrorctl/mirrorctl/engine/bdb"
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
	found := map[Kind][]string{}
	var sqliteDBs, sqliteAux []string
	fsys := os.DirFS(dir)
	err := fs.WalkDir(fsys, ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel == metaDir || rel != "." && skip != nil && skip(rel) {
				return fs.SkipDir
			}
			return nil
		}
		if skip != nil && skip(rel) {
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		k, err := classify(fsys, rel)
		if err != nil {
			return err
		}
		switch {
		case k == SQLite:
			sqliteDBs = append(sqliteDBs, rel)
		case k != None:
			found[k] = append(found[k], rel)
		case sqliteSidecar(rel) != "":
			sqliteAux = append(sqliteAux, rel)
		}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("detect the engine of %s: %w", dir, err)
	}
	if len(sqliteDBs) > 0 {
		dbs := map[string]bool{}
		for _, rel := range sqliteDBs {
			dbs[rel] = true
		}
		found[SQLite] = sqliteDBs
		for _, rel := range sqliteAux {
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

// classify says which engine the regular file rel belongs to, by its name or its first bytes.
func classify(fsys fs.FS, rel string) (Kind, error) {
	base := path.Base(rel)
	switch {
	case base == "data.mdb" || base == "lock.mdb":
		return LMDB, nil
	case base == "DB_CONFIG" || bdb.IsRegionName(base):
		return BDB, nil
	}
	if _, ok := bdb.ParseLogName(base); ok {
		return BDB, nil
	}
	head, err := readHead(fsys, rel, 16)
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

// readHead returns the first n bytes of rel (fewer when the file is shorter).
func readHead(fsys fs.FS, rel string, n int) ([]byte, error) {
	f, err := fsys.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	k, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	return b[:k], nil
}
