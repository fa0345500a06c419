package detect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorctl/mirrorctl/engine/bdb/workload"
	"github.com/mirrorctl/mirrorctl/internal/testenv"
	"golang.org/x/sys/unix"
)

// Each maker writes real files of one engine into dir, with that engine's own tools.

func need(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		testenv.SkipOrFail(t, "needs %s (make deps installs it)", tool)
	}
}

func run(t *testing.T, dir, stdin string, name string, args ...string) {
	t.Helper()
	need(t, name)
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
}

// sqliteDB makes database rel with the sqlite3 shell, in rollback or WAL mode; the shell's close
// checkpoints and deletes the WAL.
func sqliteDB(rel string, wal bool) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		mkdirFor(t, dir, rel)
		mode := "DELETE"
		if wal {
			mode = "WAL"
		}
		run(t, dir, fmt.Sprintf("PRAGMA journal_mode=%s;\nCREATE TABLE t(k, v);\nINSERT INTO t VALUES (1, 'one');\n", mode), "sqlite3", rel)
	}
}

// sqliteWithWAL makes a WAL database whose -wal and -shm lie beside it, as while an application has
// it open (or after it crashed): the three files are copied while sqlite3 holds the database open.
func sqliteWithWAL(rel string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		need(t, "sqlite3")
		mkdirFor(t, dir, rel)
		tmp := t.TempDir()
		cmd := exec.Command("sqlite3", "-batch", filepath.Join(tmp, "db"))
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
		defer func() { stdin.Close(); _ = cmd.Wait() }()
		fmt.Fprint(stdin, "PRAGMA journal_mode=WAL;\nCREATE TABLE t(k, v);\nINSERT INTO t VALUES (1, 'one');\nSELECT 'done';\n")
		buf := make([]byte, 0, 64)
		for !strings.Contains(string(buf), "done") {
			b := make([]byte, 64)
			n, err := stdout.Read(b)
			if err != nil {
				t.Fatalf("sqlite3: %v", err)
			}
			buf = append(buf, b[:n]...)
		}
		for _, suffix := range []string{"", "-wal", "-shm"} {
			copyFile(t, filepath.Join(tmp, "db"+suffix), filepath.Join(dir, rel+suffix))
		}
	}
}

// lmdbEnv makes an LMDB environment (data.mdb, lock.mdb) in subdirectory sub with mdb_load.
func lmdbEnv(sub string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		env := filepath.Join(dir, sub)
		if err := os.MkdirAll(env, 0o755); err != nil {
			t.Fatal(err)
		}
		run(t, dir, "key\nvalue\n", "mdb_load", "-T", env)
	}
}

// bdbDatabase makes a Berkeley DB btree database rel with db_load, no environment around it.
func bdbDatabase(rel, method string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		mkdirFor(t, dir, rel)
		tool := "db_load"
		if _, err := exec.LookPath(tool); err != nil {
			tool = "db5.3_load"
		}
		input := "key\nvalue\n"
		if method == "queue" || method == "recno" {
			input = "value\n"
		}
		args := []string{"-T", "-t", method}
		if method == "queue" {
			args = append(args, "-c", "re_len=16")
		}
		run(t, dir, input, tool, append(args, rel)...)
	}
}

// bdbEnv makes a real transactional Berkeley DB environment with the workload (libdb through cgo):
// databases, log files, region files.
func bdbEnv(t *testing.T, dir string) {
	t.Helper()
	_, err := workload.Run(context.Background(), workload.Options{Dir: dir, Txns: 20, ValueSize: 100}, io.Discard)
	if err != nil {
		t.Fatalf("Berkeley DB workload: %v", err)
	}
}

func file(rel, content string) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		t.Helper()
		mkdirFor(t, dir, rel)
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func mkdirFor(t *testing.T, dir, rel string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDetect_NamesTheEngineOfTheFiles(t *testing.T) {
	cases := []struct {
		name  string
		make  []func(t *testing.T, dir string)
		want  Kind
		files []string // nil: not checked
	}{
		{"empty directory", nil, None, nil},
		{"files of no engine", []func(*testing.T, string){file("README", "hello"), file("app.db", ""),
			file("notes.txt", strings.Repeat("x", 100)), file("orphan.db-wal", "x")}, None, nil},
		{"mirrorctl's metadata is not looked at", []func(*testing.T, string){sqliteDB(".mirrorctl/x.db", false)}, None, nil},
		{"a SQLite database", []func(*testing.T, string){sqliteDB("app.db", false), file("README", "x")},
			SQLite, []string{"app.db"}},
		{"SQLite databases per tenant, one with its WAL", []func(*testing.T, string){
			sqliteDB("tenants/a.sqlite", false), sqliteDB("tenants/b.sqlite", true), sqliteWithWAL("tenants/c.sqlite"),
			file("tenants/stray-wal", "x")},
			SQLite, []string{"tenants/a.sqlite", "tenants/b.sqlite", "tenants/c.sqlite", "tenants/c.sqlite-shm", "tenants/c.sqlite-wal"}},
		{"an LMDB environment", []func(*testing.T, string){lmdbEnv(".")}, LMDB, []string{"data.mdb", "lock.mdb"}},
		{"LMDB environments in subdirectories", []func(*testing.T, string){lmdbEnv("one"), lmdbEnv("two")},
			LMDB, []string{"one/data.mdb", "one/lock.mdb", "two/data.mdb", "two/lock.mdb"}},
		{"a Berkeley DB environment", []func(*testing.T, string){bdbEnv}, BDB, nil},
		{"a Berkeley DB btree database alone", []func(*testing.T, string){bdbDatabase("orders.db", "btree")}, BDB, []string{"orders.db"}},
		{"Berkeley DB hash and queue databases alone", []func(*testing.T, string){bdbDatabase("h.db", "hash"), bdbDatabase("q.db", "queue")},
			BDB, []string{"h.db", "q.db"}},
		{"DB_CONFIG alone", []func(*testing.T, string){file("DB_CONFIG", "set_lg_dir logs\n")}, BDB, []string{"DB_CONFIG"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, mk := range c.make {
				mk(t, dir)
			}
			r, err := Detect(dir, nil)
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if r.Kind != c.want {
				t.Fatalf("Detect says %s (%v); want %s", r.Kind, r.Files, c.want)
			}
			if c.files != nil && fmt.Sprint(r.Files) != fmt.Sprint(c.files) {
				t.Errorf("files %v; want %v", r.Files, c.files)
			}
		})
	}
}

// A real Berkeley DB environment is told by its logs and regions, and by its databases' magic.
func TestDetect_BerkeleyDBEnvironmentFiles(t *testing.T) {
	dir := t.TempDir()
	bdbEnv(t, dir)
	r, err := Detect(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var log, region, db bool
	for _, f := range r.Files {
		log = log || strings.HasPrefix(f, "log.")
		region = region || strings.HasPrefix(f, "__db.")
		db = db || strings.HasSuffix(f, ".db")
	}
	if r.Kind != BDB || !log || !region || !db {
		t.Errorf("Detect of a Berkeley DB environment: %s %v; want bdb, with log, region and database files", r.Kind, r.Files)
	}
}

func TestDetect_RefusesAMixNamingTheFilesOfEach(t *testing.T) {
	cases := []struct {
		name string
		make []func(t *testing.T, dir string)
		want map[Kind][]string
		msg  []string // parts of the message
	}{
		{"SQLite beside a Berkeley DB database",
			[]func(*testing.T, string){sqliteDB("app.db", false), bdbDatabase("orders.db", "btree")},
			map[Kind][]string{SQLite: {"app.db"}, BDB: {"orders.db"}},
			[]string{"Berkeley DB (orders.db)", "SQLite (app.db)", "more than one engine"}},
		{"LMDB beside DB_CONFIG and a log name",
			[]func(*testing.T, string){lmdbEnv("."), file("DB_CONFIG", ""), file("log.0000000001", "")},
			map[Kind][]string{LMDB: {"data.mdb", "lock.mdb"}, BDB: {"DB_CONFIG", "log.0000000001"}},
			[]string{"LMDB (data.mdb, lock.mdb)", "Berkeley DB (DB_CONFIG, log.0000000001)"}},
		{"all three, deep",
			[]func(*testing.T, string){lmdbEnv("a/b"), sqliteDB("c/d.db", true), bdbDatabase("e/f.db", "hash")},
			map[Kind][]string{LMDB: {"a/b/data.mdb", "a/b/lock.mdb"}, SQLite: {"c/d.db"}, BDB: {"e/f.db"}},
			[]string{"Berkeley DB (e/f.db)", "LMDB (a/b/data.mdb, a/b/lock.mdb)", "SQLite (c/d.db)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, mk := range c.make {
				mk(t, dir)
			}
			r, err := Detect(dir, nil)
			var mixed *MixedError
			if !errors.As(err, &mixed) {
				t.Fatalf("Detect = %v, %v; want a MixedError", r, err)
			}
			if fmt.Sprint(mixed.Files) != fmt.Sprint(c.want) {
				t.Errorf("files %v; want %v", mixed.Files, c.want)
			}
			for _, part := range c.msg {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("message %q does not say %q", err, part)
				}
			}
			if !strings.HasPrefix(err.Error(), dir+" ") || strings.Contains(err.Error(), "\n") {
				t.Errorf("message %q: want one line that starts with the directory", err)
			}
		})
	}
}

// What the caller skips (the mirror's exclusions) is not looked at: a SQLite scratch database in an
// excluded directory does not make a Berkeley DB environment a mix.
func TestDetect_SkipsWhatTheCallerLeavesOut(t *testing.T) {
	dir := t.TempDir()
	bdbDatabase("orders.db", "btree")(t, dir)
	sqliteDB("scratch/cache.db", false)(t, dir)
	sqliteDB("tmp.sqlite", false)(t, dir)
	skip := func(rel string) bool { return rel == "scratch" || rel == "tmp.sqlite" }
	r, err := Detect(dir, skip)
	if err != nil || r.Kind != BDB || fmt.Sprint(r.Files) != "[orders.db]" {
		t.Errorf("Detect with scratch/ and tmp.sqlite skipped = %v, %v; want bdb [orders.db]", r, err)
	}
	if _, err := Detect(dir, nil); err == nil {
		t.Errorf("Detect without skip = nil error; want the mix refused (else this test proves nothing)")
	}
}

// A tree deeper than PATH_MAX (which an application reaches relative to its current directory) is
// walked too: directories are opened relative to their parent.
func TestDetect_WalksATreeDeeperThanPathMax(t *testing.T) {
	src := t.TempDir()
	sqliteDB("app.db", false)(t, src)
	db, err := os.ReadFile(filepath.Join(src, "app.db"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("d", 200)
	var rel []string
	for len(rel)*(len(name)+1) < 2*unix.PathMax {
		if err := unix.Mkdirat(fd, name, 0o755); err != nil {
			t.Fatal(err)
		}
		sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = sub
		rel = append(rel, name)
	}
	f, err := unix.Openat(fd, "deep.db", unix.O_WRONLY|unix.O_CREAT, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(f, db); err != nil {
		t.Fatal(err)
	}
	unix.Close(f)
	unix.Close(fd)
	r, err := Detect(dir, nil)
	want := strings.Join(append(rel, "deep.db"), "/")
	if err != nil || r.Kind != SQLite || len(r.Files) != 1 || r.Files[0] != want {
		t.Errorf("Detect of a tree %d bytes deep = %v, %v; want sqlite, the deep database", len(want), r.Kind, err)
	}
}

func TestDetect_ErrorsNameTheDirectory(t *testing.T) {
	_, err := Detect(filepath.Join(t.TempDir(), "missing"), nil)
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Detect of a missing directory = %v; want an error naming it", err)
	}
}

func TestMixedError_ListsAtMostFiveFilesPerEngine(t *testing.T) {
	e := &MixedError{Dir: "/srv/app", Files: map[Kind][]string{
		SQLite: {"1.db", "2.db", "3.db", "4.db", "5.db", "6.db", "7.db"}, LMDB: {"data.mdb"}}}
	want := "/srv/app holds the files of more than one engine: LMDB (data.mdb), SQLite (1.db, 2.db, 3.db, 4.db, 5.db and 2 more): " +
		"one directory serves one engine; move the other engine's files to a directory of their own"
	if e.Error() != want {
		t.Errorf("got  %q\nwant %q", e.Error(), want)
	}
}
