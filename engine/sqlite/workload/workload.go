package workload

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strconv"

	_ "github.com/mattn/go-sqlite3" // the driver "sqlite3", with libsqlite3 bundled
)

// Databases are the databases every transaction inserts into, with their journal modes.
var Databases = []struct{ File, Mode string }{{"wal.db", "WAL"}, {"journal.db", "DELETE"}}

// Options say how to run.
type Options struct {
	Dir       string
	ValueSize int
	Txns      int // stop after this many commits; 0: until ctx ends
}

// Value is the value of row i.
func Value(i, size int) []byte {
	seed := []byte(strconv.Itoa(i) + ":")
	return bytes.Repeat(seed, size/len(seed)+1)[:size]
}

func open(p, query string) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: p}).EscapedPath()+"?"+query)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// Stats is what Run did.
type Stats struct {
	Commits int `json:"commits"`
}

// Run inserts rows until ctx ends, o.Txns are done, or a commit fails; each row's number is written
// to acked (one a line, flushed) once it is committed in every database.
func Run(ctx context.Context, o Options, acked io.Writer) (Stats, error) {
	var st Stats
	dbs := make([]*sql.DB, len(Databases))
	for j, d := range Databases {
		db, err := open(filepath.Join(o.Dir, d.File), "_journal_mode="+d.Mode+"&_synchronous=FULL&_busy_timeout=5000")
		if err != nil {
			return st, err
		}
		defer db.Close()
		if _, err := db.Exec("CREATE TABLE IF NOT EXISTS t(k INTEGER PRIMARY KEY, v BLOB)"); err != nil {
			return st, fmt.Errorf("create the table of %s: %w", d.File, err)
		}
		dbs[j] = db
	}
	var start int
	if err := dbs[0].QueryRow("SELECT coalesce(max(k)+1, 0) FROM t").Scan(&start); err != nil {
		return st, err
	}
	flush, _ := acked.(interface{ Flush() error })
	for i := start; o.Txns == 0 || st.Commits < o.Txns; i++ {
		if ctx.Err() != nil {
			return st, nil
		}
		for j, db := range dbs {
			if _, err := db.Exec("INSERT INTO t VALUES (?, ?)", i, Value(i, o.ValueSize)); err != nil {
				return st, fmt.Errorf("commit %d to %s: %w", i, Databases[j].File, err)
			}
		}
		st.Commits++
		fmt.Fprintln(acked, i)
		if flush != nil {
			if err := flush.Flush(); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// CheckResult is what Check found.
type CheckResult struct {
	Acked   int   `json:"acked"`
	Found   int   `json:"found"`
	Lost    int   `json:"lost"`
	Wrong   int   `json:"wrong"`
	Missing []int `json:"missing,omitempty"`
}

// Check looks up every acknowledged row in every database of o.Dir, read-only, after PRAGMA
// integrity_check.
func Check(ctx context.Context, o Options, acked []int) (CheckResult, error) {
	r := CheckResult{Acked: len(acked)}
	bad := map[int]string{} // row → "lost" or "wrong"
	for _, d := range Databases {
		db, err := open(filepath.Join(o.Dir, d.File), "mode=ro")
		if err != nil {
			return r, err
		}
		defer db.Close()
		var ok string
		if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
			return r, fmt.Errorf("%s fails PRAGMA integrity_check: %q %v", d.File, ok, err)
		}
		for _, i := range acked {
			var v []byte
			err := db.QueryRowContext(ctx, "SELECT v FROM t WHERE k = ?", i).Scan(&v)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				bad[i] = "lost"
			case err != nil:
				return r, fmt.Errorf("read row %d of %s: %w", i, d.File, err)
			case !bytes.Equal(v, Value(i, o.ValueSize)) && bad[i] == "":
				bad[i] = "wrong"
			}
		}
	}
	for _, i := range acked {
		switch bad[i] {
		case "lost":
			r.Lost++
		case "wrong":
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
