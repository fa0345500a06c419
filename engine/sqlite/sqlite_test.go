package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorctl/mirrorctl/engine"
)

func TestEngine_Classify(t *testing.T) {
	cases := []struct {
		rel  string
		want engine.Class
	}{
		{"app.db", engine.ClassDatabase},
		{"tenants/a.sqlite3", engine.ClassDatabase},
		{"app.db-wal", engine.ClassLog},
		{"app.db-journal", engine.ClassLog},
		{"app.db-shm", engine.ClassRegion},
		{"tenants/x-shm", engine.ClassRegion},
		{"-shm", engine.ClassOther},
		{"notes.txt", engine.ClassOther},
	}
	for _, c := range cases {
		if got := New().Classify(c.rel); got != c.want {
			t.Errorf("Classify(%q) = %s, want %s", c.rel, got, c.want)
		}
	}
}

// walCopy leaves in a new directory what a crash leaves: a database file without the commits that
// are only in its WAL (copied while the writer still has it open, no checkpoint run), and no -shm.
func walCopy(t *testing.T, rows int) string {
	t.Helper()
	src := t.TempDir()
	db, err := sql.Open("sqlite3", filepath.Join(src, "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{"PRAGMA journal_mode=WAL", "PRAGMA wal_autocheckpoint=0", "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT)"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < rows; i++ {
		if _, err := db.Exec("INSERT INTO t(v) VALUES (?)", strings.Repeat("x", 100)); err != nil {
			t.Fatal(err)
		}
	}
	dst := t.TempDir()
	for _, name := range []string{"app.db", "app.db-wal", "app.db-shm"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func count(t *testing.T, p string) int {
	t.Helper()
	db, err := sql.Open("sqlite3", p)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestEngine_RestartReplaysTheWAL: the commits only in the WAL reach the database file, the WAL is
// emptied, and the report counts the frames.
func TestEngine_RestartReplaysTheWAL(t *testing.T) {
	dir := walCopy(t, 200)
	removed, err := New().RemoveRegions(dir)
	if err != nil || len(removed) != 1 || removed[0] != "app.db-shm" {
		t.Fatalf("RemoveRegions = %v, %v; want [app.db-shm]", removed, err)
	}
	r, err := New().Restart(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Databases) != 1 || r.Databases[0].File != "app.db" || r.Databases[0].FramesReplayed == 0 || r.Databases[0].Pages == 0 {
		t.Fatalf("report %+v: want app.db with frames replayed and pages", r.Databases)
	}
	if st, err := os.Stat(filepath.Join(dir, "app.db-wal")); err == nil && st.Size() != 0 {
		t.Errorf("the WAL holds %d bytes after the restart: not checkpointed", st.Size())
	}
	// The database file alone holds every row.
	if err := os.Remove(filepath.Join(dir, "app.db-wal")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if n := count(t, filepath.Join(dir, "app.db")); n != 200 {
		t.Errorf("%d rows in the database file alone, want 200", n)
	}
	if err := New().Verify(context.Background(), dir); err != nil {
		t.Error(err)
	}
}

// TestEngine_RestartRefusesACorruptDatabase: a database that fails integrity_check is named.
func TestEngine_RestartRefusesACorruptDatabase(t *testing.T) {
	dir := walCopy(t, 300)
	if _, err := New().Restart(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "app.db")
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(strings.Repeat("\xff", 4096)), 4096*2); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = New().Restart(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), "app.db") {
		t.Fatalf("Restart of a corrupt database: %v; want an error naming app.db", err)
	}
}

// TestEngine_Databases finds databases by their header, whatever their names.
func TestEngine_Databases(t *testing.T) {
	dir := walCopy(t, 1)
	if err := os.MkdirAll(filepath.Join(dir, "tenants", ".mirrorctl"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "app.db"))
	for _, name := range []string{"tenants/acme", "tenants/notes.db"} {
		data := b
		if name == "tenants/notes.db" {
			data = []byte("not a database")
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := New().Databases(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "app.db tenants/acme" {
		t.Errorf("Databases = %v, want [app.db tenants/acme]", got)
	}
}

// TestEngine_BytesSinceCheckpoint: the committed frames of a WAL count, whole frames only, and none
// once the restart checkpointed them.
func TestEngine_BytesSinceCheckpoint(t *testing.T) {
	dir := walCopy(t, 50)
	ctx := context.Background()
	n, err := New().BytesSinceCheckpoint(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "app.db-wal"))
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || n > st.Size()-32 || n%(24+4096) != 0 {
		t.Fatalf("BytesSinceCheckpoint = %d; want whole 4 KiB frames, at most the WAL's %d bytes after its header", n, st.Size())
	}
	// A torn last frame does not count.
	if err := os.Truncate(filepath.Join(dir, "app.db-wal"), 32+n-100); err != nil {
		t.Fatal(err)
	}
	if m, err := New().BytesSinceCheckpoint(ctx, dir); err != nil || m >= n {
		t.Errorf("after tearing the last frame: %d, %v; want less than %d", m, err, n)
	}
	if _, err := New().Restart(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if m, err := New().BytesSinceCheckpoint(ctx, dir); err != nil || m != 0 {
		t.Errorf("after the restart: %d, %v; want 0", m, err)
	}
}
