package bdb

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseConfig_Directories(t *testing.T) {
	cases := []struct {
		name, in string
		want     Config
	}{
		{"empty", "", Config{}},
		{"log dir", "set_lg_dir logs\n", Config{LogDir: "logs"}},
		{"data dirs", "set_data_dir data\nadd_data_dir more data\n", Config{DataDirs: []string{"data", "more data"}}},
		{"comments and others", "# set_lg_dir nope\n\nset_cachesize 0 1048576 1\n  set_lg_dir   /abs/logs  \nset_tmp_dir tmp\n",
			Config{LogDir: "/abs/logs", TmpDir: "tmp"}},
		{"tabs", "set_lg_dir\tlogs\n", Config{LogDir: "logs"}},
		{"last wins", "set_lg_dir a\nset_lg_dir b\n", Config{LogDir: "b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseConfig(strings.NewReader(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestReadConfig_Missing(t *testing.T) {
	c, err := ReadConfig(t.TempDir())
	if err != nil || !reflect.DeepEqual(c, Config{}) {
		t.Fatalf("missing DB_CONFIG: %+v, %v", c, err)
	}
}

func TestBDB_LogsInLogDir(t *testing.T) {
	env := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(env, "DB_CONFIG"), []byte("set_lg_dir logs\n"), 0o644))
	must(os.Mkdir(filepath.Join(env, "logs"), 0o755))
	for _, n := range []string{"log.0000000002", "log.0000000001", "junk"} {
		must(os.WriteFile(filepath.Join(env, "logs", n), []byte("x"), 0o644))
	}
	must(os.WriteFile(filepath.Join(env, "log.0000000009"), []byte("x"), 0o644)) // not in the log dir
	logs, err := (&BDB{}).Logs(env)
	must(err)
	if len(logs) != 2 || logs[0].Rel != "logs/log.0000000001" || logs[1].Number != 2 {
		t.Fatalf("logs = %+v", logs)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add("set_lg_dir logs\nadd_data_dir d\n# c\n")
	f.Add("set_lg_dir\n")
	f.Add("\x00\n \t\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConfig(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, d := range c.DataDirs {
			if d == "" {
				t.Fatalf("empty data dir from %q", s)
			}
		}
	})
}

func TestDatabaseFilesByMagic_FindsOnlyDatabases(t *testing.T) {
	env := t.TempDir()
	btree := make([]byte, 512)
	btree[12], btree[13], btree[14] = 0x62, 0x31, 0x05 // 0x053162, little-endian
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(env, "accounts"), btree, 0o644))
	must(os.Mkdir(filepath.Join(env, "data"), 0o755))
	must(os.WriteFile(filepath.Join(env, "data", "h.db"), btree, 0o644))
	must(os.WriteFile(filepath.Join(env, "DB_CONFIG"), []byte("set_data_dir data\n"), 0o644))
	must(os.WriteFile(filepath.Join(env, "notes.db"), []byte("not a database at all"), 0o644))
	must(os.WriteFile(filepath.Join(env, "__db.001"), btree, 0o644))
	got, err := DatabaseFilesByMagic(env)
	must(err)
	if len(got) != 2 || got[0] != "accounts" || got[1] != "data/h.db" {
		t.Fatalf("database files: %v", got)
	}
}
