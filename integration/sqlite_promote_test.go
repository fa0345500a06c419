package integration

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // the SQLite library, as applications link it
)

// sqliteWriter commits one row per transaction to a database through the mount until a commit
// fails or it is stopped, and keeps the ledger: the rows whose commit returned (with
// synchronous=FULL, acknowledged durable).
type sqliteWriter struct {
	name  string
	db    *sql.DB
	mu    sync.Mutex
	acked int // rows 0..acked-1 were acknowledged
	err   error
	stop  chan struct{}
	done  chan struct{}
}

// openSQLite opens database p with the library, in journal mode mode, synchronous=FULL.
func openSQLite(t *testing.T, p, mode string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+p+"?_journal_mode="+mode+"&_synchronous=FULL&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	return db
}

// startSQLiteWriter starts writing to mp/name, a database created by createSQLite.
func startSQLiteWriter(t *testing.T, mp, name, mode string) *sqliteWriter {
	t.Helper()
	w := &sqliteWriter{name: name, db: openSQLite(t, filepath.Join(mp, name), mode), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			if _, err := w.db.Exec("INSERT INTO t VALUES (?, randomblob(3000))", i); err != nil {
				w.mu.Lock()
				w.err = err
				w.mu.Unlock()
				return
			}
			w.mu.Lock()
			w.acked = i + 1
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.end() })
	return w
}

func (w *sqliteWriter) count() int { w.mu.Lock(); defer w.mu.Unlock(); return w.acked }

// end stops the writer (if a commit has not failed already) and closes the database.
func (w *sqliteWriter) end() int {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	_ = w.db.Close()
	return w.count()
}

// createSQLite makes dir/name with table t in journal mode mode.
func createSQLite(t *testing.T, dir, name, mode string) {
	t.Helper()
	db := openSQLite(t, filepath.Join(dir, name), mode)
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)"); err != nil {
		t.Fatal(err)
	}
}

// requireSQLiteLedger opens dir/name (nothing beside it: promote left the database file whole) and
// checks its integrity and that every acknowledged row, 0..acked-1, is there.
func requireSQLiteLedger(t *testing.T, dir, name string, acked int) {
	t.Helper()
	for _, sfx := range []string{"-wal", "-journal"} {
		if st, err := os.Stat(filepath.Join(dir, name+sfx)); err == nil && st.Size() > 0 {
			t.Errorf("%s%s holds %d bytes after promote: the database file alone must hold every commit", name, sfx, st.Size())
		}
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, name)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("%s: integrity_check says %q (%v)", name, ok, err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM t WHERE k < ?", acked).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != acked {
		t.Errorf("%s: %d of the %d acknowledged rows are on the promoted mirror: %d lost", name, n, acked, acked-n)
	}
}

// TestSQLite_PromoteAfterAFault: a WAL database and a rollback-journal database, written through the
// mount by the SQLite library (synchronous=FULL, one row per commit, a ledger of the acknowledged
// ones); the mount is SIGKILLed, or the primary's disk dies (xfs shutdown). promote (the engine read
// from the mirror's record, which the first mount took from the files) opens each database, checks
// and checkpoints it: every acknowledged row is there, integrity ok. The WAL index (-shm) is never on
// the mirror. A dry run first leaves the mirror as it was.
func TestSQLite_PromoteAfterAFault(t *testing.T) {
	needFUSE(t)
	dbs := []struct{ name, mode string }{{"wal.db", "WAL"}, {"tenants/journal.db", "DELETE"}}
	for _, fault := range []string{"SIGKILL", "primary disk dies"} {
		t.Run(fault, func(t *testing.T) {
			primary, mirrorDir, mp := dirs(t)
			var disk *Disk
			if fault == "primary disk dies" {
				disk = newDisk(t, 300<<20)
				primary = disk.sub(t, "env")
			}
			if err := os.MkdirAll(filepath.Join(primary, "tenants"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, d := range dbs {
				createSQLite(t, primary, d.name, d.mode)
			}
			m := startMount(t, primary, mirrorDir, mp)
			if got := recordedEngine(t, mirrorDir); got != "sqlite" {
				t.Fatalf("the first mount recorded engine %q, want sqlite (detected from the files)", got)
			}
			writers := make([]*sqliteWriter, len(dbs))
			for i, d := range dbs {
				writers[i] = startSQLiteWriter(t, mp, d.name, d.mode)
			}
			eventually(t, time.Minute, "commits through the mount", func() bool {
				return writers[0].count() > 200 && writers[1].count() > 200
			})
			if _, err := os.Stat(filepath.Join(primary, "wal.db-shm")); err != nil {
				t.Fatalf("the WAL database has no -shm on the primary: %v", err)
			}
			acked := make([]int, len(dbs))
			switch fault {
			case "SIGKILL":
				m.KillProcess(t)
				for i, w := range writers {
					acked[i] = w.end()
				}
				lazyUnmount(mp)
			default:
				disk.Shutdown(t)
				for i, w := range writers {
					acked[i] = w.end()
				}
				m.Kill(t)
			}
			if _, err := os.Lstat(filepath.Join(mirrorDir, "wal.db-shm")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("wal.db-shm is on the mirror (%v): it is a region, served, never mirrored", err)
			}
			// status tells the WAL bytes a promote would replay.
			var st map[string]any
			if r := mirrorctl(t, "status", "--json", "--mirror", mirrorDir); json.Unmarshal([]byte(r.Stdout), &st) != nil {
				t.Fatalf("status --json: %s", r)
			} else if _, ok := st["log_bytes_since_checkpoint"]; !ok {
				t.Errorf("status --json of a SQLite mirror lacks log_bytes_since_checkpoint: %s", r.Stdout)
			}
			before := snapshots(t, mirrorDir)
			if p, r := promoteJSON(t, "--dry-run", "--mirror", mirrorDir); r.Code != 0 || !p.OK {
				t.Fatalf("promote --dry-run: %s", r)
			}
			sameSnapshot(t, "after the dry run", before, snapshots(t, mirrorDir))

			r := mirrorctl(t, "promote", "--json", "--mirror", mirrorDir)
			var rep struct {
				OK       bool `json:"ok"`
				Recovery struct {
					Databases []struct {
						File   string `json:"file"`
						Pages  int64  `json:"pages"`
						Frames int64  `json:"wal_frames_replayed"`
						Hot    bool   `json:"hot_journal_rolled_back"`
						Inert  bool   `json:"inert_journal_removed"`
					} `json:"databases"`
				} `json:"recovery"`
			}
			if err := json.Unmarshal([]byte(r.Stdout), &rep); r.Code != 0 || err != nil || !rep.OK {
				t.Fatalf("promote: %v: %s", err, r)
			}
			var got []string
			for _, d := range rep.Recovery.Databases {
				got = append(got, fmt.Sprintf("%s pages>0:%v", d.File, d.Pages > 0))
			}
			if want := "tenants/journal.db pages>0:true wal.db pages>0:true"; strings.Join(got, " ") != want {
				t.Errorf("promote reports databases %q, want %q: %s", strings.Join(got, " "), want, r.Stdout)
			}
			for i, d := range dbs {
				requireSQLiteLedger(t, mirrorDir, d.name, acked[i])
			}
			t.Logf("acknowledged rows: %v; promote: %+v", acked, rep.Recovery.Databases)
		})
	}
}

// TestSQLite_NoLogHistory: what needs a log history is refused for a SQLite mirror, with one line
// that says so, and nothing changed: promote --catastrophic, and mount --archive; and promote
// --primary salvages nothing and says why.
func TestSQLite_NoLogHistory(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	createSQLite(t, primary, "app.db", "WAL")
	mustRun(t, "sync", "--primary", primary, "--mirror", mirrorDir)
	t.Cleanup(func() {
		if isMountPoint(mp) {
			lazyUnmount(mp)
		}
	})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"promote", "--catastrophic", "--mirror", mirrorDir}, "SQLite keeps no log history, so there is no catastrophic recovery of " + mirrorDir},
		{[]string{"mount", "--primary", primary, "--mirror", mirrorDir, "--archive", "s3://bucket/app", "--snapshot-every", "1MiB", mp}, "--snapshot-every counts log volume, and SQLite keeps no log history"},
	} {
		before := snapshots(t, filepath.Dir(primary))
		r := mirrorctlWithin(t, 30*time.Second, c.args...)
		if r.Code != 2 || !strings.Contains(r.Stderr, c.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
			t.Errorf("mirrorctl %s: want exit 2 and one line saying %q: %s", strings.Join(c.args, " "), c.want, r)
		}
		sameSnapshot(t, "after the refusal", before, snapshots(t, filepath.Dir(primary)))
	} // A readable old primary has no log tail to give: the dry run says so and succeeds.
	p, r := promoteJSON(t, "--dry-run", "--primary", primary, "--mirror", mirrorDir)
	if r.Code != 0 || !p.OK || !strings.Contains(r.Stdout, "SQLite has no rotating log whose tail could be salvaged: nothing salvaged") {
		t.Errorf("promote --dry-run --primary of a SQLite mirror: want ok and a salvage note that nothing is salvaged: %s", r)
	}
}
