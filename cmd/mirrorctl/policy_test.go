package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorctl/mirrorctl/engine/bdb"
	"github.com/mirrorctl/mirrorctl/mirror"
)

func TestExcludedEngineFiles_WarnsOfDatabasesLogsAndConfig(t *testing.T) {
	primary := t.TempDir()
	for _, rel := range []string{"data/accounts.db", "log.0000000001", "DB_CONFIG", "notes.txt", "__db.001", "scratch/tmp.bin"} {
		p := filepath.Join(primary, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	empty := t.TempDir()
	eng, err := bdb.New("")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		primary string
		globs   []string
		says    string // "": no warning
	}{
		{"databases by suffix", primary, []string{"*.db"}, `--exclude "*.db" matches Berkeley DB database files (data/accounts.db)`},
		{"a directory of databases", primary, []string{"data"}, `--exclude "data" matches Berkeley DB database files (data/accounts.db)`},
		{"logs", primary, []string{"log.*"}, `--exclude "log.*" matches Berkeley DB log files (log.0000000001)`},
		{"the configuration", primary, []string{"DB_CONFIG"}, `--exclude "DB_CONFIG" matches Berkeley DB config files (DB_CONFIG)`},
		{"databases of a new environment", empty, []string{"*.db"}, `--exclude "*.db" matches Berkeley DB database files:`},
		{"only the globs that hit", primary, []string{"*.txt", "*.db"}, `"*.db"`},
		{"other files", primary, []string{"*.txt", "scratch", "*.tmp"}, ""},
		{"regions, never mirrored anyway", primary, []string{"__db.*"}, ""},
		{"no globs", primary, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := excludedEngineFiles(eng, c.globs, c.primary)
			if c.says == "" {
				if got != "" {
					t.Fatalf("warning %q, want none", got)
				}
				return
			}
			if !strings.Contains(got, c.says) || !strings.Contains(got, "drop the pattern") || strings.Contains(got, "\n") {
				t.Fatalf("warning %q: want one line containing %q and the fix", got, c.says)
			}
			if strings.Contains(got, "*.txt") {
				t.Fatalf("warning %q names a glob that excludes no engine file", got)
			}
		})
	}
}

// sync (and mount and verify, which read the same flags) warns on stderr; --json output stays JSON.
func TestSync_WarnsWhenAnExclusionHidesDatabases(t *testing.T) {
	base := t.TempDir()
	primary, target := filepath.Join(base, "primary"), filepath.Join(base, "mirror")
	if err := os.MkdirAll(primary, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(primary, "accounts.db"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := run(t, "sync", "--files", "--no-progress", "--json", "--exclude", "*.db", "--primary", primary, "--mirror", target)
	if code != exitOK {
		t.Fatalf("sync: exit %d: %s %s", code, out, errOut)
	}
	if lines := strings.Split(strings.TrimSpace(errOut), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "warning: ") || !strings.Contains(lines[0], "accounts.db") {
		t.Fatalf("stderr %q: want one warning line naming accounts.db", errOut)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("stdout is not JSON: %v: %q", err, out)
	}
}

// Invariant: while a new environment's engine is undecided, what any engine rebuilds is not
// mirrored, and every database and log still is.
func TestUndecided_RebuiltOfEveryEngine(t *testing.T) {
	p, err := mirror.NewExclusions(nil, func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	eng, err := bdb.New("")
	if err != nil {
		t.Skip(err)
	}
	undecided(p, eng)
	for rel, want := range map[string]bool{
		"__db.001": false, "app.db-shm": false, "lock.mdb": false, "tenants/t1.db-shm": false,
		"accounts.db": true, "log.0000000001": true, "app.db": true, "app.db-wal": true, "app.db-journal": true, "data.mdb": true,
	} {
		if got := p.Mirrored(rel); got != want {
			t.Errorf("undecided policy: Mirrored(%q) = %v, want %v", rel, got, want)
		}
	}
}
