package mdb

/*
#cgo LDFLAGS: -l:liblmdb.a -lpthread
#include <stdlib.h>
#include <string.h>
#include <lmdb.h>

static int mdbgo_put(MDB_txn *txn, MDB_dbi dbi, void *k, size_t kl, void *v, size_t vl, unsigned int flags) {
	MDB_val key = {kl, k}, val = {vl, v};
	return mdb_put(txn, dbi, &key, &val, flags);
}

// mdbgo_get copies the value of k into buf (at most cap bytes) and sets *vl to its full length.
static int mdbgo_get(MDB_txn *txn, MDB_dbi dbi, void *k, size_t kl, void *buf, size_t cap, size_t *vl) {
	MDB_val key = {kl, k}, val;
	int rc = mdb_get(txn, dbi, &key, &val);
	if (rc != 0) return rc;
	*vl = val.mv_size;
	memcpy(buf, val.mv_data, val.mv_size < cap ? val.mv_size : cap);
	return 0;
}

// mdbgo_walk reads every entry of dbi (every duplicate of a DUPSORT database too) through a cursor,
// and every byte of each key and value, so that every leaf and overflow page is read from the map.
static int mdbgo_walk(MDB_txn *txn, MDB_dbi dbi, unsigned long long *entries, unsigned long long *bytes, unsigned int *sum) {
	MDB_cursor *c;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, dbi, &c);
	if (rc != 0) return rc;
	unsigned int s = 0;
	while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == 0) {
		const unsigned char *p = k.mv_data;
		for (size_t i = 0; i < k.mv_size; i++) s = s * 31 + p[i];
		p = v.mv_data;
		for (size_t i = 0; i < v.mv_size; i++) s = s * 31 + p[i];
		(*entries)++;
		*bytes += k.mv_size + v.mv_size;
	}
	mdb_cursor_close(c);
	*sum = s;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

// mdbgo_key is the cursor's next key of the main database (MDB_NEXT_NODUP), copied into buf.
static int mdbgo_next_key(MDB_cursor *c, void *buf, size_t cap, size_t *kl) {
	MDB_val k, v;
	int rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_NODUP);
	if (rc != 0) return rc;
	*kl = k.mv_size;
	memcpy(buf, k.mv_data, k.mv_size < cap ? k.mv_size : cap);
	return 0;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// Error is a failed LMDB call.
type Error struct {
	Op   string
	Code int
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Op, C.GoString(C.mdb_strerror(C.int(e.Code))))
}

// Is makes errors.Is(err, ErrNotFound) and the like work.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Op == "" && t.Code == e.Code
}

var (
	// ErrNotFound is MDB_NOTFOUND: no such key (or no such named database).
	ErrNotFound error = &Error{Code: C.MDB_NOTFOUND}
	// ErrIncompatible is MDB_INCOMPATIBLE: the key names no database, or the flags disagree.
	ErrIncompatible error = &Error{Code: C.MDB_INCOMPATIBLE}
	// ErrCorrupted is MDB_CORRUPTED: a page is not what the tree says it is.
	ErrCorrupted error = &Error{Code: C.MDB_CORRUPTED}
)

func check(op string, rc C.int) error {
	if rc == 0 {
		return nil
	}
	return &Error{Op: op, Code: int(rc)}
}

// Flags are mdb_env_open's flags that mirrorctl uses.
type Flags uint

const (
	WriteMap Flags = C.MDB_WRITEMAP // a writable shared map: commits are writes to the map, then msync
	ReadOnly Flags = C.MDB_RDONLY
	NoLock   Flags = C.MDB_NOLOCK // no lock.mdb: for one reader that nothing else uses
)

// Env is an open environment.
type Env struct{ p *C.MDB_env }

// Open opens the environment in directory dir. mapSize 0 keeps LMDB's (or the environment's own,
// when larger); maxDBs is how many named databases may be open at once.
func Open(dir string, flags Flags, mapSize int64, maxDBs int) (*Env, error) {
	var p *C.MDB_env
	if err := check("mdb_env_create", C.mdb_env_create(&p)); err != nil {
		return nil, err
	}
	if mapSize > 0 {
		if err := check("mdb_env_set_mapsize", C.mdb_env_set_mapsize(p, C.size_t(mapSize))); err != nil {
			C.mdb_env_close(p)
			return nil, err
		}
	}
	if err := check("mdb_env_set_maxdbs", C.mdb_env_set_maxdbs(p, C.MDB_dbi(maxDBs))); err != nil {
		C.mdb_env_close(p)
		return nil, err
	}
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	if err := check("mdb_env_open "+dir, C.mdb_env_open(p, cdir, C.uint(flags)|C.MDB_NOTLS, 0o644)); err != nil {
		C.mdb_env_close(p)
		return nil, err
	}
	return &Env{p: p}, nil
}

// Close closes the environment; its transactions must have ended.
func (e *Env) Close() {
	if e.p != nil {
		C.mdb_env_close(e.p)
		e.p = nil
	}
}

// Info is what the environment's newest meta page says.
type Info struct {
	MapSize  int64 // bytes
	LastPage int64 // the number of the last page in use
	LastTxn  int64 // the id of the last committed transaction: the meta page that won
	PageSize int64
	Entries  int64 // in the main database (named databases are entries of it)
}

// Info reads the environment's info and the main database's statistics.
func (e *Env) Info() (Info, error) {
	var ei C.MDB_envinfo
	if err := check("mdb_env_info", C.mdb_env_info(e.p, &ei)); err != nil {
		return Info{}, err
	}
	var st C.MDB_stat
	if err := check("mdb_env_stat", C.mdb_env_stat(e.p, &st)); err != nil {
		return Info{}, err
	}
	return Info{MapSize: int64(ei.me_mapsize), LastPage: int64(ei.me_last_pgno), LastTxn: int64(ei.me_last_txnid),
		PageSize: int64(st.ms_psize), Entries: int64(st.ms_entries)}, nil
}

// Txn is a transaction, used by the goroutine that began it.
type Txn struct {
	p     *C.MDB_txn
	write bool
}

// Begin begins a transaction; a write transaction locks the goroutine to its OS thread until it ends.
func (e *Env) Begin(readOnly bool) (*Txn, error) {
	var flags C.uint
	if readOnly {
		flags = C.MDB_RDONLY
	} else {
		runtime.LockOSThread()
	}
	var p *C.MDB_txn
	if err := check("mdb_txn_begin", C.mdb_txn_begin(e.p, nil, flags, &p)); err != nil {
		if !readOnly {
			runtime.UnlockOSThread()
		}
		return nil, err
	}
	return &Txn{p: p, write: !readOnly}, nil
}

func (t *Txn) end() {
	t.p = nil
	if t.write {
		runtime.UnlockOSThread()
	}
}

// Commit commits the transaction; when it returns nil the commit is durable (LMDB syncs the data
// file, or msyncs the map with WriteMap, before it writes the new meta page, and syncs that too).
func (t *Txn) Commit() error {
	err := check("mdb_txn_commit", C.mdb_txn_commit(t.p))
	t.end()
	return err
}

// Abort ends the transaction without committing it; a no-op on an ended one.
func (t *Txn) Abort() {
	if t.p != nil {
		C.mdb_txn_abort(t.p)
		t.end()
	}
}

// DBI is a database handle.
type DBI C.MDB_dbi

// Main is the handle of the main database (LMDB's MAIN_DBI; handle 0 is its free-page list).
const Main DBI = 1

// OpenDB opens the named database ("": the main database), creating it if create is set.
func (t *Txn) OpenDB(name string, create bool) (DBI, error) {
	var cname *C.char
	if name != "" {
		cname = C.CString(name)
		defer C.free(unsafe.Pointer(cname))
	}
	var flags C.uint
	if create {
		flags = C.MDB_CREATE
	}
	var dbi C.MDB_dbi
	if err := check("mdb_dbi_open "+name, C.mdb_dbi_open(t.p, cname, flags, &dbi)); err != nil {
		return 0, err
	}
	return DBI(dbi), nil
}

func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// Put stores value under key in dbi.
func (t *Txn) Put(dbi DBI, key, value []byte) error {
	return check("mdb_put", C.mdbgo_put(t.p, C.MDB_dbi(dbi), ptr(key), C.size_t(len(key)), ptr(value), C.size_t(len(value)), 0))
}

// Get returns a copy of the value stored under key in dbi; ErrNotFound when there is none.
func (t *Txn) Get(dbi DBI, key []byte) ([]byte, error) {
	buf := make([]byte, 4096)
	for {
		var n C.size_t
		if err := check("mdb_get", C.mdbgo_get(t.p, C.MDB_dbi(dbi), ptr(key), C.size_t(len(key)), ptr(buf), C.size_t(len(buf)), &n)); err != nil {
			return nil, err
		}
		if int(n) <= len(buf) {
			return buf[:n], nil
		}
		buf = make([]byte, n)
	}
}

// Walked is what a walk of a database read.
type Walked struct {
	Entries int64
	Bytes   int64  // of keys and values
	Sum     uint32 // over every byte read, so that the reads cannot be skipped
}

// Walk reads every entry of dbi through a cursor.
func (t *Txn) Walk(dbi DBI) (Walked, error) {
	var entries, bytes C.ulonglong
	var sum C.uint
	if err := check("walk with a cursor", C.mdbgo_walk(t.p, C.MDB_dbi(dbi), &entries, &bytes, &sum)); err != nil {
		return Walked{}, err
	}
	return Walked{Entries: int64(entries), Bytes: int64(bytes), Sum: uint32(sum)}, nil
}

// EachKey calls fn with each key of the main database (where LMDB keeps the names of the named
// databases), in order; the slice is valid only during the call.
func (t *Txn) EachKey(fn func(key []byte) error) error {
	var c *C.MDB_cursor
	if err := check("mdb_cursor_open", C.mdb_cursor_open(t.p, C.MDB_dbi(Main), &c)); err != nil {
		return err
	}
	defer C.mdb_cursor_close(c)
	buf := make([]byte, 512) // LMDB's largest key is 511 bytes
	for {
		var n C.size_t
		err := check("read the main database", C.mdbgo_next_key(c, ptr(buf), C.size_t(len(buf)), &n))
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(buf[:min(int(n), len(buf))]); err != nil {
			return err
		}
	}
}

// CloseDB closes a named database's handle, so that OpenDB may reuse it; the transaction that
// opened it must not use it after.
func (e *Env) CloseDB(dbi DBI) { C.mdb_dbi_close(e.p, C.MDB_dbi(dbi)) }
