package workload

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mirrorctl/mirrorctl/engine/lmdb/mdb"
)

// Databases are the named databases every transaction updates.
var Databases = []string{"accounts", "history"}

// Options say how to run.
type Options struct {
	Dir       string // the environment's directory (made by the caller)
	WriteMap  bool   // MDB_WRITEMAP: data.mdb becomes a sparse file as large as the map
	MapSize   int64  // bytes; 0: 256 MiB
	ValueSize int    // bytes per value
	Txns      int    // stop after this many commits; 0: until ctx ends
	Start     int    // first key number
}

func (o Options) flags() mdb.Flags {
	if o.WriteMap {
		return mdb.WriteMap
	}
	return 0
}

// Key is the key of commit i.
func Key(i int) []byte { return []byte(fmt.Sprintf("k%010d", i)) }

// Value is the value commit i puts in accounts.
func Value(i, size int) []byte {
	seed := []byte(strconv.Itoa(i) + ":")
	return bytes.Repeat(seed, size/len(seed)+1)[:size]
}

// Stats is what Run did.
type Stats struct {
	Commits int `json:"commits"`
	Last    int `json:"last"` // the last key acknowledged (-1: none)
}

// Run commits transactions until ctx ends, o.Txns are done, or a commit fails; each acknowledged
// key number is written to acked, one a line, and flushed, after its commit returned.
func Run(ctx context.Context, o Options, acked io.Writer) (Stats, error) {
	st := Stats{Last: -1}
	if o.MapSize == 0 {
		o.MapSize = 256 << 20
	}
	env, err := mdb.Open(o.Dir, o.flags(), o.MapSize, len(Databases))
	if err != nil {
		return st, err
	}
	defer env.Close()
	flush, _ := acked.(interface{ Flush() error })
	for i := o.Start; o.Txns == 0 || st.Commits < o.Txns; i++ {
		if ctx.Err() != nil {
			return st, nil
		}
		if err := commit(env, i, o.ValueSize); err != nil {
			return st, fmt.Errorf("commit %d: %w", i, err)
		}
		st.Commits, st.Last = st.Commits+1, i
		fmt.Fprintln(acked, i)
		if flush != nil {
			if err := flush.Flush(); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// commit is one transaction: key i into both databases.
func commit(env *mdb.Env, i, size int) error {
	txn, err := env.Begin(false)
	if err != nil {
		return err
	}
	defer txn.Abort()
	for _, db := range Databases {
		dbi, err := txn.OpenDB(db, true)
		if err != nil {
			return err
		}
		v := Value(i, size)
		if db == "history" {
			v = []byte(strconv.Itoa(i))
		}
		if err := txn.Put(dbi, Key(i), v); err != nil {
			return err
		}
	}
	return txn.Commit()
}

// CheckResult is what Check found.
type CheckResult struct {
	Acked   int   `json:"acked"`
	Found   int   `json:"found"`
	Lost    int   `json:"lost"`
	Wrong   int   `json:"wrong"`
	Missing []int `json:"missing,omitempty"` // the first lost or wrong keys
}

// Check looks up every acknowledged key in both databases of the environment in o.Dir, read-only.
func Check(o Options, acked []int) (CheckResult, error) {
	r := CheckResult{Acked: len(acked)}
	env, err := mdb.Open(o.Dir, mdb.ReadOnly|mdb.NoLock, 0, len(Databases))
	if err != nil {
		return r, err
	}
	defer env.Close()
	txn, err := env.Begin(true)
	if err != nil {
		return r, err
	}
	defer txn.Abort()
	dbis := make([]mdb.DBI, len(Databases))
	for j, db := range Databases {
		if dbis[j], err = txn.OpenDB(db, false); err != nil {
			if errors.Is(err, mdb.ErrNotFound) && len(acked) > 0 {
				r.Lost = len(acked)
				r.Missing = acked[:min(len(acked), 10)]
				return r, nil
			}
			if errors.Is(err, mdb.ErrNotFound) {
				return r, nil
			}
			return r, err
		}
	}
	for _, i := range acked {
		ok, present := true, true
		for j, db := range Databases {
			v, err := txn.Get(dbis[j], Key(i))
			if errors.Is(err, mdb.ErrNotFound) {
				present = false
				break
			}
			if err != nil {
				return r, err
			}
			want := Value(i, o.ValueSize)
			if db == "history" {
				want = []byte(strconv.Itoa(i))
			}
			ok = ok && bytes.Equal(v, want)
		}
		switch {
		case !present:
			r.Lost++
		case !ok:
			r.Wrong++
		default:
			r.Found++
			continue
		}
		if len(r.Missing) < 10 {
			r.Missing = append(r.Missing, i)
		}
	}
	return r, nil
}

// ReadAcked reads the ledger Run wrote: one key number a line; a partial last line is dropped.
func ReadAcked(r io.Reader) ([]int, error) {
	br := bufio.NewReader(r)
	var out []int
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		n, err := strconv.Atoi(strings.TrimSuffix(line, "\n"))
		if err != nil {
			return out, fmt.Errorf("ledger line %q: %w", line, err)
		}
		out = append(out, n)
	}
}
