package lmdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/engine/lmdb/mdb"
	"golang.org/x/sync/errgroup"
)

// Engine is LMDB.
type Engine struct{}

var (
	_ engine.Core           = Engine{}
	_ engine.DatabaseLister = Engine{}
)

// New returns the LMDB engine.
func New() Engine { return Engine{} }

// Name is the engine's name for people.
func (Engine) Name() string { return "LMDB" }

// Available is always nil: the library is linked into the binary.
func (Engine) Available() error { return nil }

// The two files of an environment.
const (
	DataFile = "data.mdb"
	LockFile = "lock.mdb"
)

// metaDir is mirrorctl's metadata directory at the top of a tree (engine packages import nothing
// of mirrorctl's).
const metaDir = ".mirrorctl"

// Classify says what a file is by its name: data.mdb is a database, lock.mdb a region.
func (Engine) Classify(rel string) engine.Class {
	switch path.Base(rel) {
	case DataFile:
		return engine.ClassDatabase
	case LockFile:
		return engine.ClassRegion
	}
	return engine.ClassOther
}

// Databases lists the data.mdb files of envDir (one per environment), relative, sorted.
func (Engine) Databases(envDir string) ([]string, error) {
	var dbs []string
	err := filepath.WalkDir(envDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(envDir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir() && rel == metaDir:
			return filepath.SkipDir
		case d.Type().IsRegular() && d.Name() == DataFile:
			dbs = append(dbs, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the LMDB environments of %s: %w", envDir, err)
	}
	sort.Strings(dbs)
	return dbs, nil
}

// RemoveRegions deletes the lock.mdb of every environment of envDir: it describes the old primary's
// readers and writer, and LMDB rebuilds it at the first open.
func (e Engine) RemoveRegions(envDir string) ([]string, error) {
	dbs, err := e.Databases(envDir)
	if err != nil {
		return nil, err
	}
	removed := []string{}
	for _, db := range dbs {
		lock := path.Join(path.Dir(db), LockFile)
		err := os.Remove(filepath.Join(envDir, filepath.FromSlash(lock)))
		switch {
		case err == nil:
			removed = append(removed, lock)
		case !errors.Is(err, fs.ErrNotExist):
			return removed, fmt.Errorf("remove %s: %w", lock, err)
		}
	}
	return removed, nil
}

// Restart opens every environment of envDir with the library, read-write as an application's first
// open after a crash does (the newest meta page wins, lock.mdb is rebuilt), and reads it through.
// Environments are restarted in parallel; the report has one entry per environment.
func (e Engine) Restart(ctx context.Context, envDir string) (engine.RecoveryReport, error) {
	return e.each(ctx, envDir, 0)
}

// Verify reads every environment of envDir through, read-only and without a lock file, and names
// the first that fails.
func (e Engine) Verify(ctx context.Context, envDir string) error {
	_, err := e.each(ctx, envDir, mdb.ReadOnly|mdb.NoLock)
	return err
}

func (e Engine) each(ctx context.Context, envDir string, flags mdb.Flags) (engine.RecoveryReport, error) {
	start := time.Now()
	dbs, err := e.Databases(envDir)
	if err != nil {
		return engine.RecoveryReport{}, err
	}
	if len(dbs) == 0 {
		return engine.RecoveryReport{}, fmt.Errorf("%s holds no LMDB environment (no %s): nothing to open", envDir, DataFile)
	}
	out := make([]engine.DatabaseRecovery, len(dbs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.NumCPU())
	for i, rel := range dbs {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			r, err := ReadThrough(filepath.Join(envDir, filepath.FromSlash(path.Dir(rel))), flags)
			r.File = rel
			out[i] = r
			if err != nil {
				return fmt.Errorf("LMDB environment %s: %w", rel, err)
			}
			return nil
		})
	}
	err = g.Wait()
	return engine.RecoveryReport{Duration: time.Since(start), Databases: out}, err
}

// ReadThrough opens the environment in dir with flags and reads it through: a cursor walk of the
// main database and of every named database, in one read transaction. The report counts the
// entries of every database (a named database's own entry in the main database is not counted),
// the named databases, and the pages the newest meta page says are in use.
func ReadThrough(dir string, flags mdb.Flags) (engine.DatabaseRecovery, error) {
	start := time.Now()
	r := engine.DatabaseRecovery{}
	// One handle for the named databases, each closed after its walk: LMDB must be told how many
	// handles to allow before it opens, and a main database may hold many keys that name none.
	env, err := mdb.Open(dir, flags, 0, 1)
	if err != nil {
		return r, err
	}
	defer env.Close()
	info, err := env.Info()
	if err != nil {
		return r, err
	}
	r.Pages, r.PageSize, r.TxnID = info.LastPage+1, info.PageSize, info.LastTxn
	// A page past the end of the file would not be a read error but a SIGBUS of this process, in
	// the library: a file shorter than its newest meta page says is refused before any page is read.
	st, err := os.Stat(filepath.Join(dir, DataFile))
	if err != nil {
		return r, err
	}
	if need := r.Pages * r.PageSize; st.Size() < need {
		return r, fmt.Errorf("%s is %d bytes, but its newest meta page (transaction %d) says %d pages of %d bytes (%d bytes) are in use: the file is cut short", DataFile, st.Size(), r.TxnID, r.Pages, r.PageSize, need)
	}
	txn, err := env.Begin(true)
	if err != nil {
		return r, err
	}
	defer txn.Abort()
	w, err := txn.Walk(mdb.Main)
	if err != nil {
		return r, fmt.Errorf("read the main database: %w", err)
	}
	r.Entries = w.Entries
	err = txn.EachKey(func(k []byte) error {
		if len(k) == 0 || bytes.IndexByte(k, 0) >= 0 {
			return nil // not a name LMDB can open
		}
		name := string(k)
		dbi, err := txn.OpenDB(name, false)
		if errors.Is(err, mdb.ErrIncompatible) {
			return nil // a plain key, not a database's name
		}
		if err != nil {
			return fmt.Errorf("open the named database %q: %w", name, err)
		}
		defer env.CloseDB(dbi)
		w, err := txn.Walk(dbi)
		if err != nil {
			return fmt.Errorf("read the named database %q: %w", name, err)
		}
		r.Entries += w.Entries - 1 // its own entry in the main database was counted there
		r.SubDatabases++
		return nil
	})
	if err != nil {
		return r, err
	}
	r.Duration = time.Since(start)
	return r, nil
}
