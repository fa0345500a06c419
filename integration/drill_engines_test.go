package integration

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestDrill_EveryEngineLosesNoCommit: `mirrorctl drill --engine sqlite|lmdb`, both ways the primary
// can die: the engine's own workload through the mount (SQLite: a WAL and a rollback-journal
// database; LMDB: two named databases), a ledger of the acknowledged commits, promote, and every
// acknowledged commit on the promoted mirror.
func TestDrill_EveryEngineLosesNoCommit(t *testing.T) {
	needFUSE(t)
	needTool(t, "losetup", "mkfs.xfs", "xfs_io")
	for _, eng := range []string{"sqlite", "lmdb"} {
		for _, kill := range []string{"disk", "mount"} {
			t.Run(eng+"/"+kill, func(t *testing.T) {
				r := mirrorctl(t, "drill", "--json", "--engine", eng, "--kill", kill, "--duration", "3s", "--dir", t.TempDir())
				var res struct {
					Engine                           string
					Acknowledged, Found, Lost, Wrong int
					Checked                          string
				}
				if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || r.Code != 0 {
					t.Fatalf("drill: %s", r)
				}
				checkJSONContract(t, "drill", r.Stdout)
				if res.Engine != eng || res.Checked != "promoted mirror" || res.Acknowledged == 0 || res.Lost != 0 || res.Wrong != 0 || res.Found != res.Acknowledged {
					t.Fatalf("drill --engine %s: %+v; want engine %s, every acknowledged commit found on the promoted mirror", eng, res, eng)
				}
				t.Logf("drill (%s, %s): %+v", eng, kill, res)
			})
		}
	}
}

// TestDrill_EngineRefusals: an --engine the drill does not know, and a machine loss of an engine
// without a log history, are refused in one line, exit 2, before anything is made.
func TestDrill_EngineRefusals(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--engine", "rocksdb"}, `--engine "rocksdb": use bdb (the default), sqlite or lmdb`},
		{[]string{"--engine", "lmdb", "--lose", "machine"}, "--lose machine restores from the archive, which keeps a log history, and LMDB has none"},
	} {
		dir := t.TempDir()
		r := mirrorctl(t, append([]string{"drill", "--dir", dir}, c.args...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, c.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
			t.Errorf("mirrorctl drill %s: want exit 2 and one line saying %q: %s", strings.Join(c.args, " "), c.want, r)
		}
		if ents, err := os.ReadDir(dir); err != nil || len(ents) > 0 {
			t.Errorf("mirrorctl drill %s made %v in --dir (%v)", strings.Join(c.args, " "), ents, err)
		}
	}
}
