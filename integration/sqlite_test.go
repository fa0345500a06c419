package integration

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
			// Ten transactions committed, then one left open, spilled to disk (openTransaction).
			sh, journal := withOpenTransaction(t, db, c.mode, c.suffix, mirrorDir)
			m.Kill(t)
			sh.kill()
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

// sqliteShell is the sqlite3 shell running on a database, fed statements one part at a time.
type sqliteShell struct {
	t     *testing.T
	db    string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines *bufio.Scanner
}

// startSQLite starts the sqlite3 shell on db; the test's end kills it if still running.
func startSQLite(t *testing.T, db string) *sqliteShell {
	t.Helper()
	cmd := exec.Command("sqlite3", "-batch", db)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return &sqliteShell{t: t, db: db, cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout)}
}

// say sends script and returns once the shell has run it (it prints done after it).
func (s *sqliteShell) say(script, done string) {
	s.t.Helper()
	fmt.Fprintf(s.stdin, "%sSELECT '%s';\n", script, done)
	for s.lines.Scan() {
		if s.lines.Text() == done {
			return
		}
	}
	s.t.Fatalf("sqlite3 ended before %q: %v", done, s.lines.Err())
}

// end closes the shell's input and waits for it to exit: its last close of the database.
func (s *sqliteShell) end() {
	s.t.Helper()
	s.stdin.Close()
	if err := s.cmd.Wait(); err != nil {
		s.t.Fatalf("sqlite3 %s: %v", s.db, err)
	}
}

// kill ends the shell with SIGKILL, as a crash would.
func (s *sqliteShell) kill() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// openTransaction sends, through say, ten committed transactions (in WAL mode they stay in the WAL,
// not checkpointed) and then one left open, spilled to disk: a cache of two pages makes SQLite
// write the transaction's pages to the database file, so the journal is synced and its header
// written, as a real one is when a process dies mid-transaction.
// withOpenTransaction makes db (in a mount, in journal mode) with twenty rows, then commits ten
// transactions and leaves one open, spilled to disk, in a sqlite3 shell it returns with the name of
// the journal (suffix) that must then be on the mirror, in mirrorDir.
func withOpenTransaction(t *testing.T, db, mode, suffix, mirrorDir string) (*sqliteShell, string) {
	t.Helper()
	sqlite(t, db, fmt.Sprintf("PRAGMA journal_mode=%s; PRAGMA synchronous=FULL;\nCREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB);\n%s", mode, inserts(0, 20)))
	sh := startSQLite(t, db)
	openTransaction(sh.say)
	journal := filepath.Base(db) + suffix
	if st, err := os.Stat(filepath.Join(mirrorDir, journal)); err != nil || st.Size() == 0 {
		t.Fatalf("the mirror has no %s while a transaction is open: the test proves nothing: %v", journal, err)
	}
	return sh, journal
}

func openTransaction(say func(script, done string)) {
	say("PRAGMA synchronous=FULL;\n"+inserts(100, 10), "committed")
	var txn strings.Builder
	txn.WriteString("PRAGMA cache_size=2;\nBEGIN;\n")
	for i := 200; i < 230; i++ {
		fmt.Fprintf(&txn, "INSERT INTO t VALUES (%d, randomblob(4000));\n", i)
	}
	say(txn.String(), "inserted")
}

// TestSQLite_StaleJournalIsRemovedByTheResync: the mirror's disk dies while a transaction is open
// (its journal, or the WAL, on both disks); the transaction commits and SQLite deletes the journal
// (WAL: checkpoints and deletes it at the last close) on the primary alone, the mirror degraded; the
// disk comes back with the journal on it. The resync must remove it.
func TestSQLite_StaleJournalIsRemovedByTheResync(t *testing.T) {
	needFUSE(t)
	needTool(t, "sqlite3")
	for _, c := range sqliteModes {
		t.Run(c.mode, func(t *testing.T) {
			disk := newDisk(t, 300<<20)
			primary, _, mp := dirs(t)
			mirrorDir := disk.sub(t, "env")
			m := startMount(t, primary, mirrorDir, mp, "--resync-interval", "0")
			m.ExpectDegraded = true
			db := filepath.Join(mp, "app.db")
			sh, journal := withOpenTransaction(t, db, c.mode, c.suffix, mirrorDir)

			disk.Shutdown(t)
			sh.say("COMMIT;\n", "done")
			if c.mode == "WAL" {
				sh.say("PRAGMA wal_checkpoint(TRUNCATE);\n", "checkpointed")
			}
			sh.end()
			requireNoFile(t, filepath.Join(primary, journal), "SQLite did not delete the journal on the primary")
			if s, r := status(t, mp); s.State != "degraded" {
				t.Fatalf("status after the mirror disk died: %s", r)
			}
			// The same disk back, with what was durable on it: the journal among it.
			eventually(t, 30*time.Second, "the dead mirror file system can be unmounted", func() bool {
				return syscall.Unmount(disk.Dir, 0) == nil
			})
			if out, err := exec.Command("mount", disk.Device, disk.Dir).CombinedOutput(); err != nil {
				t.Fatalf("mount the disk again: %v: %s", err, out)
			}
			if _, err := os.Stat(filepath.Join(mirrorDir, journal)); err != nil {
				t.Fatalf("the mirror's disk came back without %s: the test proves nothing: %v", journal, err)
			}
			mustRun(t, "resync", "--no-progress", mp)
			requireNoFile(t, filepath.Join(mirrorDir, journal), "the resync kept a journal the primary deleted while the mirror was degraded")
			m.Stop(t)
			verifyClean(t, primary, mirrorDir)
			requireRows(t, mirrorDir, "app.db", 60)
		})
	}
}
