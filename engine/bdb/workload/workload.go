package workload

/*
#cgo LDFLAGS: -ldb
#include <stdlib.h>
#include <string.h>
#include <db.h>

// With threaded, the handles are shared by several committing threads (DB_THREAD) and the lock
// manager breaks deadlocks between them (a page split can order two transactions' locks badly).
static int wl_env_open(DB_ENV **envp, const char *home, unsigned int lgmax, int autoremove, int recover, int threaded) {
	DB_ENV *env;
	int ret = db_env_create(&env, 0);
	if (ret != 0) return ret;
	if (threaded && (ret = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0) { env->close(env, 0); return ret; }
	if (lgmax > 0 && (ret = env->set_lg_max(env, lgmax)) != 0) { env->close(env, 0); return ret; }
	if (autoremove && (ret = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0) { env->close(env, 0); return ret; }
	u_int32_t flags = DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL;
	if (recover) flags |= DB_RECOVER;
	if (threaded) flags |= DB_THREAD;
	if ((ret = env->open(env, home, flags, 0644)) != 0) { env->close(env, 0); return ret; }
	*envp = env;
	return 0;
}

static int wl_db_open(DB_ENV *env, DB **dbp, const char *name, int threaded) {
	DB *db;
	int ret = db_create(&db, env, 0);
	if (ret != 0) return ret;
	if ((ret = db->open(db, NULL, name, NULL, DB_BTREE, DB_CREATE | DB_AUTO_COMMIT | (threaded ? DB_THREAD : 0), 0644)) != 0) {
		db->close(db, 0);
		return ret;
	}
	*dbp = db;
	return 0;
}

// wl_put2 commits key/val to both databases; *stage says which step failed (WL_STAGE_*). A
// transaction chosen as a deadlock's victim (only possible with several committing threads) is
// aborted and tried again.
enum { WL_STAGE_TXN = 1, WL_STAGE_COMMIT = 2, WL_STAGE_FLUSH = 3 };
static int wl_put2(DB_ENV *env, DB *a, DB *b, void *key, u_int32_t klen, void *val, u_int32_t vlen, int *stage) {
	DB_TXN *txn;
	DBT k, v;
	int ret;
	memset(&k, 0, sizeof k); memset(&v, 0, sizeof v);
	k.data = key; k.size = klen; v.data = val; v.size = vlen;
	for (;;) {
		*stage = WL_STAGE_TXN;
		if ((ret = env->txn_begin(env, NULL, &txn, 0)) != 0) return ret;
		if ((ret = a->put(a, txn, &k, &v, 0)) == 0) ret = b->put(b, txn, &k, &v, 0);
		if (ret == 0) break;
		txn->abort(txn);
		if (ret != DB_LOCK_DEADLOCK) return ret;
	}
	*stage = WL_STAGE_COMMIT;
	if ((ret = txn->commit(txn, DB_TXN_SYNC)) != 0) return ret;
	// Berkeley DB 5.3 can return success from a commit whose log write failed (seen when the file
	// system under it went away): flush again and report any failure, so that only commits whose
	// log records really reached the file system are acknowledged.
	*stage = WL_STAGE_FLUSH;
	return env->log_flush(env, NULL);
}

// wl_get copies the value of key into buf (at most cap bytes); *len is the value's full length.
static int wl_get(DB *db, void *key, u_int32_t klen, void *buf, u_int32_t cap, u_int32_t *len) {
	DBT k, v;
	memset(&k, 0, sizeof k); memset(&v, 0, sizeof v);
	k.data = key; k.size = klen;
	v.data = buf; v.ulen = cap; v.flags = DB_DBT_USERMEM;
	int ret = db->get(db, NULL, &k, &v, 0);
	*len = v.size;
	return ret;
}

static int wl_checkpoint(DB_ENV *env) { return env->txn_checkpoint(env, 0, 0, 0); }
static int wl_db_close(DB *db) { return db->close(db, 0); }
static int wl_env_close(DB_ENV *env) { return env->close(env, 0); }
static int wl_not_found(void) { return DB_NOTFOUND; }
*/
import "C"

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Options describe a workload.
type Options struct {
	Dir             string        // environment directory
	Txns            int           // stop after this many commits; 0: until Duration or ctx
	Duration        time.Duration // stop after this long; 0: no limit
	ValueSize       int           // bytes per value
	LogFileSize     int           // log file size in bytes (set_lg_max); 0: the default (10 MiB)
	CheckpointEvery int           // checkpoint every N commits; 0: never
	AutoRemoveLogs  bool          // DB_LOG_AUTO_REMOVE
	Start           int           // first key number
	NoRecover       bool          // open without DB_RECOVER (recovery writes a checkpoint)
	// KeySpace, when set, makes commit i update key i % KeySpace: the databases stay the same size
	// while the log grows (for benchmarks; Check expects every key distinct).
	KeySpace int
	// Threads is the number of threads committing at once (group commit); 0 or 1: one. Keys are
	// handed out in order to whichever thread is free, so Txns commits still use keys Start to
	// Start+Txns-1, but with several threads they are acknowledged (and printed) out of order.
	Threads int
}

// Stats say what Run did.
type Stats struct {
	Commits     int           `json:"commits"`
	Checkpoints int           `json:"checkpoints"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	PerSecond   float64       `json:"per_second"`
}

// CheckResult says how many acknowledged commits were found.
type CheckResult struct {
	Acked  int `json:"acked"`
	Found  int `json:"found"`
	Lost   int `json:"lost"`
	Wrong  int `json:"wrong"`
	MaxKey int `json:"max_key"` // the largest acknowledged key present
	// Missing lists the first lost or wrong keys, for the operator.
	Missing []int `json:"missing,omitempty"`
}

// Databases are the two databases every transaction updates.
var Databases = []string{"accounts.db", "history.db"}

func bdbError(op string, ret C.int) error {
	return fmt.Errorf("berkeley db %s: %s", op, C.GoString(C.db_strerror(ret)))
}

// Key is the key of commit i.
func Key(i int) []byte { return []byte(fmt.Sprintf("k%010d", i)) }

// Value is the value of commit i: the key repeated to size bytes.
func Value(i, size int) []byte {
	if size <= 0 {
		size = 1
	}
	pat := fmt.Sprintf("k%010d:", i)
	b := make([]byte, size)
	for j := range b {
		b[j] = pat[j%len(pat)]
	}
	return b
}

type env struct {
	env  *C.DB_ENV
	dbs  [2]*C.DB
	home *C.char
}

func open(o Options, recover bool) (*env, error) {
	threaded := 0
	if o.Threads > 1 {
		threaded = 1
	}
	e := &env{home: C.CString(o.Dir)}
	auto := 0
	if o.AutoRemoveLogs {
		auto = 1
	}
	rec := 0
	if recover {
		rec = 1
	}
	if ret := C.wl_env_open(&e.env, e.home, C.uint(o.LogFileSize), C.int(auto), C.int(rec), C.int(threaded)); ret != 0 {
		C.free(unsafe.Pointer(e.home))
		return nil, bdbError("open environment "+o.Dir, ret)
	}
	for i, name := range Databases {
		cname := C.CString(name)
		ret := C.wl_db_open(e.env, &e.dbs[i], cname, C.int(threaded))
		C.free(unsafe.Pointer(cname))
		if ret != 0 {
			e.close()
			return nil, bdbError("open "+name, ret)
		}
	}
	return e, nil
}

func (e *env) close() error {
	var first error
	for i, db := range e.dbs {
		if db != nil {
			if ret := C.wl_db_close(db); ret != 0 && first == nil {
				first = bdbError("close "+Databases[i], ret)
			}
			e.dbs[i] = nil
		}
	}
	if e.env != nil {
		if ret := C.wl_env_close(e.env); ret != 0 && first == nil {
			first = bdbError("close environment", ret)
		}
		e.env = nil
	}
	C.free(unsafe.Pointer(e.home))
	return first
}

// Run commits transactions until o.Txns, o.Duration or ctx says stop, writing the number of every
// acknowledged commit, one per line, to acked (flushed after each line). With o.Threads > 1 that
// many threads commit at once; lines are whole and each acknowledged key is printed once.
func Run(ctx context.Context, o Options, acked io.Writer) (Stats, error) {
	var st Stats
	e, err := open(o, !o.NoRecover)
	if err != nil {
		return st, err
	}
	r := &runner{o: o, e: e, acked: acked, next: o.Start, flush: func() error { return nil }}
	if f, ok := acked.(interface{ Flush() error }); ok {
		r.flush = f.Flush
	}
	start := time.Now()
	if o.Duration > 0 {
		r.deadline = start.Add(o.Duration)
	}
	var wg sync.WaitGroup
	for t := 0; t < max(o.Threads, 1); t++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.commitLoop(ctx)
		}()
	}
	wg.Wait()
	st = Stats{Commits: r.commits, Checkpoints: r.checkpoints, Elapsed: time.Since(start)}
	if r.err != nil {
		return st, errors.Join(r.err, e.closeQuietly())
	}
	if st.Elapsed > 0 {
		st.PerSecond = float64(st.Commits) / st.Elapsed.Seconds()
	}
	return st, e.close()
}

// runner is the state the committing threads of one Run share; mu guards all of its mutable fields
// and the acked writer.
type runner struct {
	o        Options
	e        *env
	deadline time.Time
	flush    func() error

	mu          sync.Mutex
	acked       io.Writer
	next        int // the next key number to hand out
	commits     int
	checkpoints int
	err         error // the first failure; every thread stops when it is set
}

// claim hands out the next key number, or false when the workload is over.
func (r *runner) claim(ctx context.Context) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil || r.o.Txns > 0 && r.next-r.o.Start >= r.o.Txns || !r.deadline.IsZero() && time.Now().After(r.deadline) || ctx.Err() != nil {
		return 0, false
	}
	r.next++
	return r.next - 1, true
}

func (r *runner) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
	}
}

// commitLoop commits claimed keys on one OS thread until the workload is over or fails.
func (r *runner) commitLoop(ctx context.Context) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for {
		i, ok := r.claim(ctx)
		if !ok {
			return
		}
		key := i
		if r.o.KeySpace > 0 {
			key = i % r.o.KeySpace
		}
		k, v := Key(key), Value(key, r.o.ValueSize)
		ck, cv := C.CBytes(k), C.CBytes(v)
		var stage C.int
		ret := C.wl_put2(r.e.env, r.e.dbs[0], r.e.dbs[1], ck, C.u_int32_t(len(k)), cv, C.u_int32_t(len(v)), &stage)
		C.free(ck)
		C.free(cv)
		if ret != 0 {
			op := fmt.Sprintf("commit of key %d", i)
			if stage == C.WL_STAGE_FLUSH { // the evidence a campaign's loss needs: which step failed
				op = fmt.Sprintf("log flush after the commit of key %d returned success (not acknowledged)", i)
			}
			r.fail(bdbError(op, ret))
			return
		}
		if err := r.acknowledge(i); err != nil {
			r.fail(err)
			return
		}
	}
}

// acknowledge prints key i as one whole line, and checkpoints every CheckpointEvery commits.
func (r *runner) acknowledge(i int) error {
	r.mu.Lock()
	r.commits++
	n := r.commits
	_, err := fmt.Fprintf(r.acked, "%d\n", i)
	if err == nil {
		err = r.flush()
	}
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if r.o.CheckpointEvery > 0 && n%r.o.CheckpointEvery == 0 {
		if ret := C.wl_checkpoint(r.e.env); ret != 0 {
			return bdbError("checkpoint", ret)
		}
		r.mu.Lock()
		r.checkpoints++
		r.mu.Unlock()
	}
	return nil
}

// closeQuietly closes after a failure; the environment may be unusable (a dead disk).
func (e *env) closeQuietly() error {
	_ = e.close()
	return nil
}

// Check opens the environment (which must not need recovery: promote ran it) and checks that every
// acknowledged key is in both databases with its value. With removeRegions, the region files it
// created are removed again afterwards, so that the directory can be verified or copied.
func Check(o Options, acked []int, removeRegions bool) (CheckResult, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := CheckResult{Acked: len(acked)}
	e, err := open(o, false)
	if err != nil {
		return r, err
	}
	buf := make([]byte, max(o.ValueSize, 1)+64)
	cbuf := C.malloc(C.size_t(len(buf)))
	defer C.free(cbuf)
	for _, i := range acked {
		k := Key(i)
		want := Value(i, o.ValueSize)
		ok := true
		found := true
		for _, db := range e.dbs {
			ck := C.CBytes(k)
			var n C.u_int32_t
			ret := C.wl_get(db, ck, C.u_int32_t(len(k)), cbuf, C.u_int32_t(len(buf)), &n)
			C.free(ck)
			if ret == C.wl_not_found() {
				found = false
				continue
			}
			if ret != 0 {
				e.close()
				return r, bdbError(fmt.Sprintf("read key %d", i), ret)
			}
			got := C.GoBytes(cbuf, C.int(min(int(n), len(buf))))
			if string(got) != string(want) {
				ok = false
			}
		}
		if (!found || !ok) && len(r.Missing) < 20 {
			r.Missing = append(r.Missing, i)
		}
		switch {
		case !found:
			r.Lost++
		case !ok:
			r.Wrong++
		default:
			r.Found++
			r.MaxKey = max(r.MaxKey, i)
		}
	}
	if err := e.close(); err != nil {
		return r, err
	}
	if removeRegions {
		matches, _ := filepath.Glob(filepath.Join(o.Dir, "__db.*"))
		for _, m := range matches {
			os.Remove(m)
		}
	}
	return r, nil
}

// ReadAcked reads the acknowledged keys written by Run. A last line without its newline was not
// acknowledged (the writer died while printing it) and is dropped.
func ReadAcked(r io.Reader) ([]int, error) {
	br := bufio.NewReader(r)
	var out []int
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF {
			return out, nil // a partial last line is dropped
		}
		if err != nil {
			return out, err
		}
		n, perr := strconv.Atoi(strings.TrimSuffix(line, "\n"))
		if perr != nil {
			return out, fmt.Errorf("acked list line %d: %q is not a key number", len(out)+1, strings.TrimSpace(line))
		}
		out = append(out, n)
	}
}
