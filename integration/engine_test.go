package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMount_EngineMustMatchThePrimarysFiles: mount --engine refuses a primary whose files are another
// engine's or several engines' (exit 2, one line naming the files, nothing written on either side),
// and serves one whose files are the engine's, an empty one, and one whose other engine's files are
// excluded from the mirror.
func TestMount_EngineMustMatchThePrimarysFiles(t *testing.T) {
	needFUSE(t)
	needTool(t, "sqlite3", "mdb_load")
	sqliteFile := func(rel string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("sqlite3", filepath.Join(dir, rel), "CREATE TABLE t(k);").CombinedOutput(); err != nil {
				t.Fatalf("sqlite3: %v: %s", err, out)
			}
		}
	}
	lmdbEnv := func(t *testing.T, dir string) {
		cmd := exec.Command("mdb_load", "-T", dir)
		cmd.Stdin = strings.NewReader("k\nv\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mdb_load: %v: %s", err, out)
		}
	}
	dbConfig := func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "DB_CONFIG"), "set_lg_max 65536\n") }
	cases := []struct {
		name   string
		make   []func(t *testing.T, dir string)
		args   []string
		refuse string // "": served
	}{
		{"SQLite as bdb", []func(*testing.T, string){sqliteFile("app.db")}, []string{"--engine", "bdb"},
			"--engine bdb, but the files of PRIMARY are SQLite (app.db): give --engine sqlite (or auto)"},
		{"LMDB as sqlite", []func(*testing.T, string){lmdbEnv}, []string{"--engine", "sqlite"},
			"are LMDB (data.mdb, lock.mdb): give --engine lmdb"},
		{"a mix, auto", []func(*testing.T, string){sqliteFile("tenants/a.db"), dbConfig}, nil,
			"PRIMARY holds the files of more than one engine: Berkeley DB (DB_CONFIG), SQLite (tenants/a.db)"},
		{"a mix, named", []func(*testing.T, string){sqliteFile("a.db"), lmdbEnv}, []string{"--engine", "lmdb"},
			"holds the files of more than one engine: LMDB (data.mdb, lock.mdb), SQLite (a.db)"},
		{"SQLite as sqlite", []func(*testing.T, string){sqliteFile("a.db"), sqliteFile("b.db")}, []string{"--engine", "sqlite"}, ""},
		{"LMDB as auto", []func(*testing.T, string){lmdbEnv}, nil, ""},
		{"empty as lmdb", nil, []string{"--engine", "lmdb"}, ""},
		{"the other engine's files excluded", []func(*testing.T, string){dbConfig, sqliteFile("scratch/cache.db")},
			[]string{"--engine", "bdb", "--exclude", "scratch/*"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			primary, mirrorDir, mp := dirs(t)
			if err := os.Remove(mirrorDir); err != nil { // a refusal must not create it
				t.Fatal(err)
			}
			for _, mk := range c.make {
				mk(t, primary)
			}
			if c.refuse == "" {
				m := startMount(t, primary, mirrorDir, mp, c.args...)
				m.Stop(t)
				var excl []string // verify leaves out what the mount left out
				for i, a := range c.args {
					if a == "--exclude" {
						excl = append(excl, a, c.args[i+1])
					}
				}
				verifyClean(t, primary, mirrorDir, excl...)
				return
			}
			before := snapshots(t, filepath.Dir(primary))
			args := append(append([]string{"mount", "--primary", primary, "--mirror", mirrorDir}, c.args...), mp)
			// A mount that is wrongly not refused would serve until stopped: it gets 30 seconds, and its
			// dead mount is removed.
			t.Cleanup(func() {
				if isMountPoint(mp) {
					lazyUnmount(mp)
				}
			})
			r := mirrorctlWithin(t, 30*time.Second, args...)
			want := strings.ReplaceAll(c.refuse, "PRIMARY", primary)
			if r.Code != 2 || !strings.Contains(r.Stderr, want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
				t.Errorf("mirrorctl %s: want exit 2 and one line saying %q: %s", strings.Join(args, " "), want, r)
			}
			sameSnapshot(t, "after the refused mount", before, snapshots(t, filepath.Dir(primary)))
			if isMountPoint(mp) {
				t.Errorf("%s is mounted after the refusal", mp)
			}
		})
	}
}

// mirrorctlWithin runs the binary to completion, killing it after d.
func mirrorctlWithin(t *testing.T, d time.Duration, args ...string) result {
	t.Helper()
	return runMirrorctl(t, d, "", nil, args...)
}

// recordedEngine is the engine the mirror's record names ("" when it names none).
func recordedEngine(t *testing.T, mirrorDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(mirrorDir, ".mirrorctl", "mirror.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Engine string `json:"engine"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	return rec.Engine
}

// TestSync_RecordNamesTheEngine: the first sync records the engine (--engine, else the primary's
// files; an empty primary's stays undecided, "auto", until its first database files decide), and a later sync or mount whose primary's files are another engine's
// than the record says (a record without an engine says Berkeley DB) is refused with one line
// naming the files and the record, exit 2, nothing changed.
func TestSync_RecordNamesTheEngine(t *testing.T) {
	needFUSE(t)
	needTool(t, "sqlite3")
	sqliteDB := func(t *testing.T, dir, name string) {
		if out, err := exec.Command("sqlite3", filepath.Join(dir, name), "CREATE TABLE t(k);").CombinedOutput(); err != nil {
			t.Fatalf("sqlite3: %v: %s", err, out)
		}
	}
	t.Run("recorded at the first sync", func(t *testing.T) {
		for _, c := range []struct {
			name string
			db   bool
			args []string
			want string
		}{
			{"SQLite files, auto", true, nil, "sqlite"},
			{"empty, --engine lmdb", false, []string{"--engine", "lmdb"}, "lmdb"},
			{"empty, auto", false, nil, "auto"},
		} {
			t.Run(c.name, func(t *testing.T) {
				primary, mirrorDir, _ := dirs(t)
				if c.db {
					sqliteDB(t, primary, "app.db")
				}
				mustRun(t, append([]string{"sync", "--primary", primary, "--mirror", mirrorDir}, c.args...)...)
				if got := recordedEngine(t, mirrorDir); got != c.want {
					t.Errorf("record names engine %q, want %q", got, c.want)
				}
				// A later sync keeps it.
				mustRun(t, "sync", "--primary", primary, "--mirror", mirrorDir)
				if got := recordedEngine(t, mirrorDir); got != c.want {
					t.Errorf("after a second sync the record names engine %q, want %q", got, c.want)
				}
			})
		}
	})
	t.Run("an empty primary's first database decides", func(t *testing.T) {
		primary, mirrorDir, _ := dirs(t)
		mustRun(t, "sync", "--primary", primary, "--mirror", mirrorDir)
		sqliteDB(t, primary, "app.db")
		mustRun(t, "sync", "--primary", primary, "--mirror", mirrorDir)
		if got := recordedEngine(t, mirrorDir); got != "sqlite" {
			t.Errorf("record names engine %q after the first database appeared, want sqlite", got)
		}
	})
	cases := []struct {
		name   string
		setup  func(t *testing.T, primary, mirrorDir string) // after a first sync of an empty primary with --engine sqlite
		args   []string
		mount  bool
		refuse string
	}{
		{"a record of an earlier version means Berkeley DB", func(t *testing.T, primary, mirrorDir string) {
			p := filepath.Join(mirrorDir, ".mirrorctl", "mirror.json")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var rec map[string]any
			if err := json.Unmarshal(b, &rec); err != nil {
				t.Fatal(err)
			}
			delete(rec, "engine")
			if b, err = json.Marshal(rec); err != nil {
				t.Fatal(err)
			}
			writeFile(t, p, string(b))
			sqliteDB(t, primary, "app.db")
		}, nil, false, "the files of PRIMARY are SQLite (app.db), but the record of mirror MIRROR (MIRROR/.mirrorctl/mirror.json) says it mirrors Berkeley DB"},
		{"Berkeley DB files under a SQLite record, mount", func(t *testing.T, primary, _ string) {
			writeFile(t, filepath.Join(primary, "DB_CONFIG"), "set_lg_max 65536\n")
		}, nil, true, "the files of PRIMARY are Berkeley DB (DB_CONFIG), but the record of mirror MIRROR (MIRROR/.mirrorctl/mirror.json) says it mirrors SQLite"},
		{"--engine against the record", func(t *testing.T, _, _ string) {}, []string{"--engine", "lmdb"}, false,
			"--engine lmdb, but the record of mirror MIRROR (MIRROR/.mirrorctl/mirror.json) says it mirrors SQLite"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			primary, mirrorDir, mp := dirs(t)
			mustRun(t, "sync", "--engine", "sqlite", "--primary", primary, "--mirror", mirrorDir)
			c.setup(t, primary, mirrorDir)
			before := snapshots(t, filepath.Dir(primary))
			args := append([]string{"sync", "--primary", primary, "--mirror", mirrorDir}, c.args...)
			if c.mount {
				args = append([]string{"mount", "--primary", primary, "--mirror", mirrorDir}, c.args...)
				args = append(args, mp)
				t.Cleanup(func() {
					if isMountPoint(mp) {
						lazyUnmount(mp)
					}
				})
			}
			r := mirrorctlWithin(t, 30*time.Second, args...)
			want := strings.NewReplacer("PRIMARY", primary, "MIRROR", mirrorDir).Replace(c.refuse)
			if r.Code != 2 || !strings.Contains(r.Stderr, want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
				t.Errorf("mirrorctl %s: want exit 2 and one line saying %q: %s", strings.Join(args, " "), want, r)
			}
			sameSnapshot(t, "after the refusal", before, snapshots(t, filepath.Dir(primary)))
		})
	}
}
