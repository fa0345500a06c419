package integration

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/internal/s3server"
)

// These tests archive SQLite, which keeps no log history: the archive is a series of snapshots,
// each a copy of the mirror taken while none of its files changed, restarted and checked by the
// SQLite library before it goes up. The databases are written through the mount by the library
// (synchronous=FULL), the acknowledged rows counted, and checked after a restore.

// commitRows inserts rows from..from+n-1 into db, one per transaction, pausing between commits (an
// application that is not saturating its database: the pauses are where snapshots are taken).
func commitRows(t *testing.T, db *sql.DB, from, n int, pause time.Duration) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := db.Exec("INSERT INTO t VALUES (?, randomblob(3000))", i); err != nil {
			t.Fatalf("commit row %d: %v", i, err)
		}
		time.Sleep(pause)
	}
}

// sqliteRows opens dir/name with the library (nothing beside it: the restore left the database file
// whole), checks its integrity and returns how many rows it holds and the highest.
func sqliteRows(t *testing.T, dir, name string) (n, last int) {
	t.Helper()
	for _, sfx := range []string{"-wal", "-journal"} {
		if st, err := os.Stat(filepath.Join(dir, name+sfx)); err == nil && st.Size() > 0 {
			t.Errorf("%s%s holds %d bytes after restore: the database file alone must hold every commit", name, sfx, st.Size())
		}
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, name)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("%s: integrity_check says %q (%v)", name, ok, err)
	}
	if err := db.QueryRow("SELECT count(*), coalesce(max(k), -1) FROM t").Scan(&n, &last); err != nil {
		t.Fatal(err)
	}
	return n, last
}

// sqliteArchive is what these tests read of archive list --json.
type sqliteArchive struct {
	Engine    string `json:"engine"`
	Snapshots []struct {
		ID    string `json:"id"`
		Files []struct {
			Rel string `json:"rel"`
			Key string `json:"key"`
		} `json:"files"`
	} `json:"snapshots"`
	WALs []struct {
		Rel      string            `json:"rel"`
		Snapshot string            `json:"snapshot"`
		Parts    []json.RawMessage `json:"parts"`
	} `json:"wals"`
}

func sqliteManifest(t *testing.T, srv *s3server.Server, url string) sqliteArchive {
	t.Helper()
	var list sqliteArchive
	r := mirrorctlEnv(t, srv.Env(), "archive", "list", "--json", "--s3-endpoint", srv.Endpoint(), url)
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil || list.Engine != "sqlite" || len(list.Snapshots) == 0 {
		t.Fatalf("archive list --json: want a SQLite archive: %v: %s", err, r)
	}
	return list
}

type sqliteRestore struct {
	Snapshot   string    `json:"snapshot"`
	SnapshotOf time.Time `json:"snapshot_of"`
	Files      int       `json:"files"`
	Recovery   struct {
		Databases []struct {
			File string `json:"file"`
		} `json:"databases"`
	} `json:"recovery"`
}

// TestArchive_SQLiteSnapshots: a mount of a WAL database and a rollback-journal database with
// --archive takes snapshots while the application commits; once status says the archive lacks
// nothing, a moment is noted and more rows committed; after the unmount, a restore holds every
// acknowledged row of both databases, integrity checked, each a database file alone; a restore to
// the moment holds exactly the rows committed before it; a restore from the local mirror holds every
// row; the bucket holds database files only (no WAL), a database that did not change is not sent
// again, and a damaged snapshot object is refused by name.
func TestArchive_SQLiteSnapshots(t *testing.T) {
	needFUSE(t)
	srv := s3server.Start(t, "backups")
	url := "s3://backups/app"
	primary, mirrorDir, mp := dirs(t)
	createSQLite(t, primary, "wal.db", "WAL")
	createSQLite(t, primary, "journal.db", "DELETE")
	createSQLite(t, primary, "idle.db", "WAL") // never written after the first snapshot
	m, err := tryMountEnv(t, srv.Env(), primary, mirrorDir, mp, "--archive", url, "--s3-endpoint", srv.Endpoint(), "--archive-interval", "200ms")
	if err != nil {
		t.Fatal(err)
	}
	wal, journal := openSQLite(t, filepath.Join(mp, "wal.db"), "WAL"), openSQLite(t, filepath.Join(mp, "journal.db"), "DELETE")
	defer wal.Close()
	defer journal.Close()
	done := make(chan struct{})
	go func() { defer close(done); commitRows(t, journal, 0, 40, 30*time.Millisecond) }()
	commitRows(t, wal, 0, 40, 30*time.Millisecond)
	<-done
	eventually(t, time.Minute, "the archive to hold the mirror", func() bool {
		st := mountArchiveStatus(t, mp)
		return st.Generation > 0 && st.LagBytes == 0 && !st.Failing
	})
	time.Sleep(50 * time.Millisecond) // the moment is after the snapshot's copy, the next commit after it
	moment := time.Now().UTC()
	time.Sleep(50 * time.Millisecond)
	done2 := make(chan struct{})
	go func() { defer close(done2); commitRows(t, journal, 40, 30, 30*time.Millisecond) }()
	commitRows(t, wal, 40, 30, 30*time.Millisecond)
	<-done2
	caughtUp := func() {
		t.Helper()
		eventually(t, time.Minute, "the archive to hold the mirror", func() bool {
			st := mountArchiveStatus(t, mp)
			return st.LagBytes == 0 && !st.Failing
		})
	}
	caughtUp()
	// Commits to the WAL database alone, fewer than a checkpoint's worth: its database file keeps its
	// bytes, and the archive follows by shipping its WAL, not by new snapshots.
	snaps := len(sqliteManifest(t, srv, url).Snapshots)
	commitRows(t, wal, 70, 20, 30*time.Millisecond)
	caughtUp()
	live := sqliteManifest(t, srv, url)
	if len(live.Snapshots) != snaps {
		t.Errorf("commits to a WAL database took %d new snapshots, want none: its WAL is shipped", len(live.Snapshots)-snaps)
	}
	newest := live.Snapshots[len(live.Snapshots)-1].ID
	shipped := false
	for _, w := range live.WALs {
		shipped = shipped || (w.Rel == "wal.db-wal" && w.Snapshot == newest && len(w.Parts) > 0)
	}
	if !shipped {
		t.Fatalf("the manifest ships no WAL of wal.db after snapshot %s: %+v", newest, live.WALs)
	}
	if r := mirrorctlEnv(t, srv.Env(), "archive", "list", "--s3-endpoint", srv.Endpoint(), url); r.Code != 0 || !strings.Contains(r.Stdout, "engine sqlite") || !strings.Contains(r.Stdout, "  wal.db-wal  ") {
		t.Errorf("archive list of a SQLite archive: want its engine and the WAL shipped: %s", r)
	}
	// Restored while the mount serves: the snapshot, and the WAL shipped after it replayed over it.
	liveDir := filepath.Join(t.TempDir(), "restored")
	if r := mirrorctlEnv(t, srv.Env(), "restore", "--from", url, "--to", liveDir, "--s3-endpoint", srv.Endpoint()); r.Code != 0 {
		t.Fatalf("restore of the shipped WAL: %s", r)
	}
	if n, last := sqliteRows(t, liveDir, "wal.db"); n != 90 || last != 89 {
		t.Fatalf("restore of the snapshot and the WAL shipped after it: %d rows up to %d, want the 90 acknowledged", n, last)
	}
	// A moment between two shipments of the WAL: a restore to it replays only what was shipped by then.
	time.Sleep(50 * time.Millisecond)
	walMoment := time.Now().UTC()
	time.Sleep(50 * time.Millisecond)
	commitRows(t, wal, 90, 10, 30*time.Millisecond)
	caughtUp()
	if got := sqliteManifest(t, srv, url); len(got.Snapshots) != snaps {
		t.Errorf("commits to a WAL database took %d new snapshots, want none", len(got.Snapshots)-snaps)
	}
	wal.Close()
	journal.Close()
	m.Stop(t)
	if !strings.Contains(m.Output(), "archive "+url+" holds the mirror") {
		t.Fatalf("unmount did not report the last push:\n%s", m.Output())
	}

	restore := func(t *testing.T, from string, extra ...string) (string, sqliteRestore) {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "restored")
		r := mirrorctlEnv(t, srv.Env(), append([]string{"restore", "--json", "--from", from, "--to", dir, "--s3-endpoint", srv.Endpoint()}, extra...)...)
		var rep sqliteRestore
		if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil || r.Code != 0 {
			t.Fatalf("restore --from %s %v: %v: %s", from, extra, err, r)
		}
		if len(rep.Recovery.Databases) != 3 {
			t.Fatalf("restore --from %s: the library checked %d databases, want 3: %s", from, len(rep.Recovery.Databases), r)
		}
		return dir, rep
	}
	want := map[string]int{"wal.db": 100, "journal.db": 70, "idle.db": 0}
	t.Run("newest", func(t *testing.T) {
		dir, _ := restore(t, url)
		for name, rows := range want {
			if n, last := sqliteRows(t, dir, name); n != rows || last != rows-1 {
				t.Errorf("%s: %d rows up to %d, want the %d acknowledged", name, n, last, rows)
			}
		}
	})
	t.Run("to the moment", func(t *testing.T) {
		dir, rep := restore(t, url, "--time", moment.Format(time.RFC3339Nano))
		if rep.SnapshotOf.After(moment) {
			t.Fatalf("restore --time %s took snapshot %s, of %s", moment, rep.Snapshot, rep.SnapshotOf)
		}
		for name, rows := range map[string]int{"wal.db": 40, "journal.db": 40, "idle.db": 0} {
			if n, _ := sqliteRows(t, dir, name); n != rows {
				t.Errorf("%s: %d rows, want the %d committed before %s", name, n, rows, moment)
			}
		}
	})
	t.Run("to a moment between two shipments of the WAL", func(t *testing.T) {
		dir, _ := restore(t, url, "--time", walMoment.Format(time.RFC3339Nano))
		for name, rows := range map[string]int{"wal.db": 90, "journal.db": 70, "idle.db": 0} {
			if n, _ := sqliteRows(t, dir, name); n != rows {
				t.Errorf("%s: %d rows, want the %d committed before %s", name, n, rows, walMoment)
			}
		}
	})
	t.Run("from the local mirror", func(t *testing.T) {
		dir, _ := restore(t, mirrorDir)
		for name, rows := range want {
			if n, _ := sqliteRows(t, dir, name); n != rows {
				t.Errorf("%s: %d rows, want %d", name, n, rows)
			}
		}
	})

	list := sqliteManifest(t, srv, url)
	first, last := list.Snapshots[0], list.Snapshots[len(list.Snapshots)-1]
	idleKey := ""
	for _, f := range last.Files {
		if strings.HasSuffix(f.Rel, "-wal") || strings.HasSuffix(f.Rel, "-journal") || strings.HasSuffix(f.Rel, "-shm") {
			t.Errorf("snapshot %s holds %s: a snapshot is the database files alone", last.ID, f.Rel)
		}
		if f.Rel == "idle.db" {
			idleKey = f.Key
		}
	}
	if !strings.HasPrefix(idleKey, "snapshots/"+first.ID+"/") {
		t.Errorf("the newest snapshot names %q for idle.db, want the first snapshot's object (it never changed)", idleKey)
	}

	t.Run("damaged object", func(t *testing.T) {
		var key string
		for _, f := range last.Files {
			if f.Rel == "wal.db" {
				key = "app/" + f.Key
			}
		}
		path := filepath.Join(srv.BucketDir(), key)
		saved, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.WriteFile(path, saved, 0o644) })
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt([]byte("damage"), 4096+100)
		f.Close()
		dir := filepath.Join(t.TempDir(), "restored")
		r := mirrorctlEnv(t, srv.Env(), "restore", "--from", url, "--to", dir, "--s3-endpoint", srv.Endpoint())
		if want := "object is corrupt: s3://backups/" + key + " has SHA-256"; r.Code != 1 || !strings.Contains(r.Stderr, want) {
			t.Fatalf("restore of a damaged snapshot: want exit 1 and %q: %s", want, r)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Fatal("a failed restore created its target")
		}
	})
}
