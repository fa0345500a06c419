package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The stale-journal trap: SQLite replays a rollback journal (or a WAL) it finds beside a database.
// One the primary deleted but the mirror kept would, at promote, roll back committed transactions
// or replay old frames into the promoted copy. The tests below prove the mirror never keeps one.

// sqliteModes are SQLite's two kinds of journal, with the file each keeps beside the database.
var sqliteModes = []struct {
	mode, suffix string
}{
	{"DELETE", "-journal"},
	{"WAL", "-wal"},
}

// sqlite runs the sqlite3 utility on db with script on its standard input, and returns its output.
func sqlite(t *testing.T, db, script string) string {
	t.Helper()
	cmd := exec.Command("sqlite3", "-batch", "-bail", db)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3 %s: %v\nscript:\n%s\noutput:\n%s", db, err, script, out)
	}
	return string(out)
}

// inserts is a script of n transactions, each inserting one row of about 4 KiB (several pages
// change per commit) numbered from first.
func inserts(first, n int) string {
	var b strings.Builder
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, "BEGIN; INSERT INTO t VALUES (%d, randomblob(4000)); COMMIT;\n", i)
	}
	return b.String()
}

// requireNoFile fails the test if path exists.
func requireNoFile(t *testing.T, path, why string) {
	t.Helper()
	if _, err := os.Lstat(path); err == nil {
		t.Errorf("%s exists: %s", path, why)
	} else if !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

// requireRows copies the database (and whatever journal lies beside it, as a promote would find it)
// out of dir, opens the copy with SQLite and checks its integrity and that it holds exactly rows
// rows.
func requireRows(t *testing.T, dir, name string, rows int) {
	t.Helper()
	c := copyDir(t, dir)
	out := sqlite(t, filepath.Join(c, name), "PRAGMA integrity_check; SELECT count(*) FROM t;")
	if want := fmt.Sprintf("ok\n%d\n", rows); out != want {
		t.Errorf("%s in %s: integrity_check and count say %q; want %q", name, dir, out, want)
	}
}

// TestSQLite_NoJournalOutlivesThePrimarys: in both journal modes, transactions committed through
// the mount by the real sqlite3 leave no journal on the primary (for WAL, after a checkpoint and
// the last close), and none on the mirror either; the mirror's database holds every row.
func TestSQLite_NoJournalOutlivesThePrimarys(t *testing.T) {
	needFUSE(t)
	needTool(t, "sqlite3")
	for _, c := range sqliteModes {
		t.Run(c.mode, func(t *testing.T) {
			primary, mirrorDir, mp := dirs(t)
			m := startMount(t, primary, mirrorDir, mp)
			db := filepath.Join(mp, "app.db")
			sqlite(t, db, fmt.Sprintf("PRAGMA journal_mode=%s; PRAGMA synchronous=FULL;\nCREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB);\n%s", c.mode, inserts(0, 50)))
			if c.mode == "WAL" {
				sqlite(t, db, "PRAGMA wal_checkpoint(TRUNCATE);\n"+inserts(50, 10))
			} else {
				sqlite(t, db, inserts(50, 10))
			}
			requireNoFile(t, filepath.Join(primary, "app.db"+c.suffix), "the primary still has the journal after sqlite3 closed the database")
			requireNoFile(t, filepath.Join(mirrorDir, "app.db"+c.suffix), "the mirror kept a journal the primary deleted")
			m.Stop(t)
			requireNoFile(t, filepath.Join(mirrorDir, "app.db"+c.suffix), "the mirror kept a journal the primary deleted")
			verifyClean(t, primary, mirrorDir)
			requireRows(t, mirrorDir, "app.db", 60)
		})
	}
}

// TestSQLite_StaleJournalIsRemovedAtTheNextStart: the mount is SIGKILLed while a transaction is open
// (its journal, or the WAL holding the commits before it, exists on both sides); SQLite then rolls the journal back on the primary directly,
// deleting it there, while no mount runs. The next mount's start must remove the mirror's copy of
// the journal, which would otherwise be replayed into the mirror's database.
func TestSQLite_StaleJournalIsRemovedAtTheNextStart(t *testing.T) {
	needFUSE(t)
	needTool(t, "sqlite3")
	for _, c := range sqliteModes {
		t.Run(c.mode, func(t *testing.T) {
			primary, mirrorDir, mp := dirs(t)
			m := startMount(t, primary, mirrorDir, mp)
			db := filepath.Join(mp, "app.db")
			sqlite(t, db, fmt.Sprintf("PRAGMA journal_mode=%s; PRAGMA synchronous=FULL;\nCREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB);\n%s", c.mode, inserts(0, 20)))

			// Ten transactions committed (in WAL mode they stay in the WAL, not checkpointed), then one
			// left open, spilled to disk; sqlite3 says when it has run each part.
			open := exec.Command("sqlite3", "-batch", db)
			stdin, err := open.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := open.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := open.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = open.Process.Kill(); _ = open.Wait() })
			lines := bufio.NewScanner(stdout)
			say := func(script, done string) {
				t.Helper()
				fmt.Fprintf(stdin, "%sSELECT '%s';\n", script, done)
				for lines.Scan() {
					if lines.Text() == done {
						return
					}
				}
				t.Fatalf("sqlite3 ended before %q: %v", done, lines.Err())
			}
			say("PRAGMA synchronous=FULL;\n"+inserts(100, 10), "committed")
			var txn strings.Builder
			// A cache of two pages spills the open transaction to the database file: the journal is
			// synced and its header written, so it is hot, as a real one is when the process dies.
			txn.WriteString("PRAGMA cache_size=2;\nBEGIN;\n")
			for i := 200; i < 230; i++ {
				fmt.Fprintf(&txn, "INSERT INTO t VALUES (%d, randomblob(4000));\n", i)
			}
			say(txn.String(), "inserted")
			journal := "app.db" + c.suffix
			if st, err := os.Stat(filepath.Join(mirrorDir, journal)); err != nil || st.Size() == 0 {
				t.Fatalf("the mirror has no %s while a transaction is open: the test proves nothing: %v", journal, err)
			}
			m.Kill(t)
			_ = open.Process.Kill()
			_ = open.Wait()
			if _, err := os.Stat(filepath.Join(primary, journal)); err != nil {
				t.Fatalf("the primary has no %s after the kill: the test proves nothing: %v", journal, err)
			}

			// SQLite on the primary directly: the hot journal is rolled back (WAL: checkpointed), and
			// deleted when the last connection closes.
			if c.mode == "WAL" {
				sqlite(t, filepath.Join(primary, "app.db"), "PRAGMA wal_checkpoint(TRUNCATE);")
			} else {
				sqlite(t, filepath.Join(primary, "app.db"), "PRAGMA integrity_check;")
			}
			requireNoFile(t, filepath.Join(primary, journal), "SQLite did not delete the journal on the primary")
			if _, err := os.Stat(filepath.Join(mirrorDir, journal)); err != nil {
				t.Fatalf("the mirror has no %s before the next start: the test proves nothing: %v", journal, err)
			}

			m = startMount(t, primary, mirrorDir, mp)
			requireNoFile(t, filepath.Join(mirrorDir, journal), "the mirror kept a journal the primary deleted while no mount ran")
			m.Stop(t)
			verifyClean(t, primary, mirrorDir)
			requireRows(t, mirrorDir, "app.db", 30)
		})
	}
}
