package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	_ "github.com/mattn/go-sqlite3" // the driver "sqlite3", with libsqlite3 bundled
	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/meta"
	"golang.org/x/sync/errgroup"
)

// Engine is SQLite.
type Engine struct{}

var (
	_ engine.Core           = Engine{}
	_ engine.DatabaseLister = Engine{}
)

// New returns the SQLite engine.
func New() Engine { return Engine{} }

// Name is the engine's name for people.
func (Engine) Name() string { return "SQLite" }

// Available is always nil: the library is linked into the binary.
func (Engine) Available() error { return nil }

// Header is the first 16 bytes of every SQLite database file.
var Header = []byte("SQLite format 3\x00")

// metaDir is mirrorctl's metadata directory at the top of a tree (engine packages import nothing
// of mirrorctl's).
const metaDir = ".mirrorctl"

// Classify says what a file is by its name: the -shm WAL index is a region (rebuilt), -wal and
// -journal are logs, names with a usual database extension are databases (Databases finds the others
// by their header), anything else is other.
func (Engine) Classify(rel string) engine.Class {
	base := path.Base(rel)
	switch {
	case strings.HasSuffix(base, "-shm") && len(base) > len("-shm"):
		return engine.ClassRegion
	case strings.HasSuffix(base, "-wal") && len(base) > len("-wal"),
		strings.HasSuffix(base, "-journal") && len(base) > len("-journal"):
		return engine.ClassLog
	}
	switch path.Ext(base) {
	case ".db", ".sqlite", ".sqlite3", ".db3":
		return engine.ClassDatabase
	}
	return engine.ClassOther
}

// Databases lists the files of envDir that start with SQLite's header, relative, sorted.
func (Engine) Databases(envDir string) ([]string, error) {
	var dbs []string
	err := filepath.WalkDir(envDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(envDir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == metaDir {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		ok, err := hasHeader(p)
		if err != nil {
			return err
		}
		if ok {
			dbs = append(dbs, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the SQLite databases of %s: %w", envDir, err)
	}
	sort.Strings(dbs)
	return dbs, nil
}

func hasHeader(p string) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, len(Header))
	if _, err := io.ReadFull(f, head); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return false, nil
		}
		return false, err
	}
	return bytes.Equal(head, Header), nil
}

// RemoveRegions deletes the -shm WAL indexes of envDir's databases: they describe the old primary's
// connections, and SQLite rebuilds them from the WAL.
func (e Engine) RemoveRegions(envDir string) ([]string, error) {
	dbs, err := e.Databases(envDir)
	if err != nil {
		return nil, err
	}
	removed := []string{}
	for _, db := range dbs {
		shm := db + "-shm"
		err := os.Remove(filepath.Join(envDir, filepath.FromSlash(shm)))
		switch {
		case err == nil:
			removed = append(removed, shm)
		case !errors.Is(err, fs.ErrNotExist):
			return removed, fmt.Errorf("remove %s: %w", shm, err)
		}
	}
	return removed, nil
}

// Restart opens every database of envDir with the library, in parallel, so that hot journals roll
// back and WALs recover; checks each with PRAGMA integrity_check; and checkpoints its WAL into the
// database file (PRAGMA wal_checkpoint(TRUNCATE)). The report has one entry per database.
func (e Engine) Restart(ctx context.Context, envDir string) (engine.RecoveryReport, error) {
	start := time.Now()
	dbs, err := e.Databases(envDir)
	if err != nil {
		return engine.RecoveryReport{}, err
	}
	out := make([]engine.DatabaseRecovery, len(dbs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	for i, rel := range dbs {
		g.Go(func() error {
			r, err := restart(gctx, envDir, rel)
			out[i] = r
			return err
		})
	}
	err = g.Wait()
	return engine.RecoveryReport{Duration: time.Since(start), Databases: out}, err
}

// restart is Restart of one database. A rollback journal still beside the database once the library
// has read, checked and checkpointed it, and closed it, is one the library does not take for hot (it
// rolls a hot one back at its first read): it is inert, and removed, so that the promoted directory
// holds the database file alone. Seen in tests: an empty -journal, created by a writer that the fault
// stopped before it wrote the journal's header (SQLite, its shell too, leaves such a file alone).
func restart(ctx context.Context, envDir, rel string) (engine.DatabaseRecovery, error) {
	start := time.Now()
	p := filepath.Join(envDir, filepath.FromSlash(rel))
	r, err := restartOpen(ctx, rel, p)
	if err != nil {
		return r, err
	}
	if _, err := os.Lstat(p + "-journal"); err == nil {
		if err := os.Remove(p + "-journal"); err != nil {
			return r, fmt.Errorf("remove the inert journal of SQLite database %s: %w", rel, err)
		}
		r.HotJournal, r.InertJournalRemoved = false, true
		if err := meta.SyncDir(filepath.Dir(p)); err != nil {
			return r, err
		}
	}
	r.Duration = time.Since(start)
	return r, nil
}

// restartOpen opens, checks and checkpoints one database, and closes it.
func restartOpen(ctx context.Context, rel, p string) (engine.DatabaseRecovery, error) {
	r := engine.DatabaseRecovery{File: rel}
	r.HotJournal = hotJournal(p + "-journal")
	db, err := open(p)
	if err != nil {
		return r, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return r, fmt.Errorf("open SQLite database %s: %w", rel, err)
	}
	defer conn.Close()
	if err := check(ctx, conn, rel, "integrity_check"); err != nil {
		return r, err
	}
	// FULL first, which says how many frames it copied into the database file (TRUNCATE reports the
	// emptied WAL: zero), then TRUNCATE, which leaves the WAL empty.
	for _, mode := range []string{"FULL", "TRUNCATE"} {
		var busy, frames, done int64
		if err := conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &done); err != nil {
			return r, fmt.Errorf("checkpoint the WAL of SQLite database %s: %w", rel, err)
		}
		if busy != 0 {
			return r, fmt.Errorf("checkpoint the WAL of SQLite database %s: busy (another process has it open): stop it, then promote again", rel)
		}
		if mode == "FULL" && done > 0 {
			r.FramesReplayed = done
		}
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&r.Pages); err != nil {
		return r, fmt.Errorf("read the page count of SQLite database %s: %w", rel, err)
	}
	return r, nil
}

// hotJournal says whether p is a rollback journal that a restart rolls back: present, with a header
// that is not zeroed (a TRUNCATE or PERSIST journal of a committed transaction is empty or zeroed).
func hotJournal(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 8)
	if _, err := io.ReadFull(f, head); err != nil {
		return false
	}
	return !bytes.Equal(head, make([]byte, 8))
}

// open opens database file p on one connection, read-write, never creating it.
func open(p string) (*sql.DB, error) {
	dsn := "file:" + (&url.URL{Path: p}).EscapedPath() + "?mode=rw&_busy_timeout=5000"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open SQLite database %s: %w", p, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// check runs PRAGMA pragma (integrity_check or quick_check) and returns an error with its first
// complaint unless it says ok.
func check(ctx context.Context, conn *sql.Conn, rel, pragma string) error {
	rows, err := conn.QueryContext(ctx, "PRAGMA "+pragma)
	if err != nil {
		return fmt.Errorf("SQLite database %s: PRAGMA %s: %w", rel, pragma, err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return fmt.Errorf("SQLite database %s: PRAGMA %s: %w", rel, pragma, err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("SQLite database %s: PRAGMA %s: %w", rel, pragma, err)
	}
	if len(msgs) == 1 && msgs[0] == "ok" {
		return nil
	}
	return fmt.Errorf("SQLite database %s fails PRAGMA %s (%d problems, first: %s)", rel, pragma, len(msgs), strings.Join(msgs[:min(1, len(msgs))], ""))
}

// Verify runs PRAGMA quick_check on every database of envDir and names the first that fails.
func (e Engine) Verify(ctx context.Context, envDir string) error {
	dbs, err := e.Databases(envDir)
	if err != nil {
		return err
	}
	for _, rel := range dbs {
		db, err := open(filepath.Join(envDir, filepath.FromSlash(rel)))
		if err != nil {
			return err
		}
		conn, err := db.Conn(ctx)
		if err == nil {
			err = check(ctx, conn, rel, "quick_check")
			conn.Close()
		}
		db.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
