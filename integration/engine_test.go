package integration

import (
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
