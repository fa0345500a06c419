package integration

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	lmdbworkload "github.com/mirrorctl/mirrorctl/engine/lmdb/workload"
)

// lmdbWriter is `mirrorctl workload lmdb run` on the mount, in a process of its own (its map is on
// the mount: when the mount dies, a read of an uncached page is a SIGBUS, which must not end the
// test). Its stdout is the ledger: a key per line, written after the key's commit returned.
type lmdbWriter struct {
	cmd    *exec.Cmd
	ledger string
	done   chan error
}

func startLMDBWriter(t *testing.T, dir string, writemap bool) *lmdbWriter {
	t.Helper()
	w := &lmdbWriter{ledger: filepath.Join(t.TempDir(), "acked"), done: make(chan error, 1)}
	out, err := os.Create(w.ledger)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"workload", "lmdb", "run", "--dir", dir, "--value-size", "3000", "--map-size", "64000000"}
	if writemap {
		args = append(args, "--writemap")
	}
	w.cmd = exec.Command(bin, args...)
	w.cmd.Stdout = out
	var stderr strings.Builder
	w.cmd.Stderr = &stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out.Close()
	go func() { w.done <- w.cmd.Wait() }()
	t.Cleanup(func() {
		w.end(t)
		if t.Failed() {
			t.Logf("LMDB workload's stderr:\n%s", stderr.String())
		}
	})
	return w
}

// acked reads the ledger.
func (w *lmdbWriter) acked(t *testing.T) []int {
	t.Helper()
	f, err := os.Open(w.ledger)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys, err := lmdbworkload.ReadAcked(f)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// end waits up to 30 seconds for the writer to end (a commit on a dead mount or disk fails), then
// kills it; it returns the ledger.
func (w *lmdbWriter) end(t *testing.T) []int {
	t.Helper()
	select {
	case err := <-w.done:
		w.done <- err
	case <-time.After(30 * time.Second):
		_ = w.cmd.Process.Kill()
	}
	return w.acked(t)
}

// TestLMDB_PromoteAfterAFault: an LMDB environment written through the mount by the LMDB library,
// with pwrite writes and with shared-map writes (MDB_WRITEMAP), one key into two named databases
// per commit and a ledger of the acknowledged ones; the primary's disk dies (xfs shutdown) or the
// mount process is SIGKILLed. The mirror never holds lock.mdb; a dry run leaves it as it was;
// promote (the engine from the mirror's record, which the first mount took from the files) opens
// the environment and reads it through; every acknowledged commit is there, and mdb_stat reads it.
func TestLMDB_PromoteAfterAFault(t *testing.T) {
	needFUSE(t)
	needTool(t, "mdb_stat")
	for _, mode := range []string{"pwrite", "writemap"} {
		for _, fault := range []string{"SIGKILL", "primary disk dies"} {
			t.Run(mode+"/"+fault, func(t *testing.T) {
				primary, mirrorDir, mp := dirs(t)
				var disk *Disk
				if fault == "primary disk dies" {
					disk = newDisk(t, 300<<20)
					primary = disk.sub(t, "env")
				}
				// The first mount decides the engine from the files: an environment made beforehand.
				if r := mirrorctl(t, "workload", "lmdb", "run", "--dir", primary, "--txns", "1", "--map-size", "64000000"); r.Code != 0 {
					t.Fatalf("make the environment: %s", r)
				}
				m := startMount(t, primary, mirrorDir, mp)
				if got := recordedEngine(t, mirrorDir); got != "lmdb" {
					t.Fatalf("the first mount recorded engine %q, want lmdb (detected from the files)", got)
				}
				w := startLMDBWriter(t, mp, mode == "writemap")
				eventually(t, time.Minute, "300 commits through the mount", func() bool { return len(w.acked(t)) > 300 })
				var acked []int
				switch fault {
				case "SIGKILL":
					m.KillProcess(t)
					acked = w.end(t)
					lazyUnmount(mp)
				default:
					disk.Shutdown(t)
					acked = w.end(t)
					m.Kill(t)
				}
				if _, err := os.Lstat(filepath.Join(mirrorDir, "lock.mdb")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("lock.mdb is on the mirror (%v): it is a region, served, never mirrored", err)
				}
				if mode == "writemap" { // data.mdb is as large as the map, and sparse: so is the mirror's
					var st syscall.Stat_t
					if err := syscall.Stat(filepath.Join(mirrorDir, "data.mdb"), &st); err != nil {
						t.Fatal(err)
					}
					if st.Size < 64000000 || st.Blocks*512 > st.Size/2 {
						t.Errorf("the mirror's data.mdb: %d bytes, %d allocated; want the map's 64000000 bytes, sparse", st.Size, st.Blocks*512)
					}
				}
				before := snapshots(t, mirrorDir)
				if p, r := promoteJSON(t, "--dry-run", "--mirror", mirrorDir); r.Code != 0 || !p.OK {
					t.Fatalf("promote --dry-run: %s", r)
				}
				sameSnapshot(t, "after the dry run", before, snapshots(t, mirrorDir))

				r := mirrorctl(t, "promote", "--json", "--mirror", mirrorDir)
				var rep struct {
					OK       bool `json:"ok"`
					Recovery struct {
						Databases []struct {
							File    string `json:"file"`
							Pages   int64  `json:"pages"`
							Entries int64  `json:"entries"`
							Named   int    `json:"sub_databases"`
							TxnID   int64  `json:"txn_id"`
						} `json:"databases"`
					} `json:"recovery"`
				}
				if err := json.Unmarshal([]byte(r.Stdout), &rep); r.Code != 0 || err != nil || !rep.OK {
					t.Fatalf("promote: %v: %s", err, r)
				}
				if dbs := rep.Recovery.Databases; len(dbs) != 1 || dbs[0].File != "data.mdb" || dbs[0].Named != 2 ||
					dbs[0].Entries < 2*int64(len(acked)) || dbs[0].TxnID < int64(len(acked)+1) || dbs[0].Pages < 2 {
					// The first commit made the environment; the writer's first rewrote its key.
					t.Errorf("promote reports %+v; want data.mdb with 2 named databases, at least %d entries and transaction %d: %s",
						dbs, 2*len(acked), len(acked)+1, r.Stdout)
				}
				check := mirrorctl(t, "workload", "lmdb", "check", "--dir", mirrorDir, "--acked", w.ledger, "--value-size", "3000")
				if check.Code != 0 || !strings.Contains(check.Stdout, `"lost":0,"wrong":0`) {
					t.Errorf("the acknowledged commits on the promoted mirror: %s", check)
				}
				if out, err := exec.Command("mdb_stat", "-a", mirrorDir).CombinedOutput(); err != nil || !strings.Contains(string(out), "Status of accounts") {
					t.Errorf("mdb_stat -a of the promoted mirror: %v: %s", err, out)
				}
				t.Logf("%s, %s: %d acknowledged commits; promote: %+v", mode, fault, len(acked), rep.Recovery.Databases)
			})
		}
	}
}

// TestStatus_SaysWhatDoesNotApply: status (and --json) of a stopped mirror names its engine and says
// plainly what does not apply to it: nothing for Berkeley DB; for SQLite and LMDB no log history
// (so no catastrophic recovery, no point-in-time restore), and for LMDB no log to replay at all.
func TestStatus_SaysWhatDoesNotApply(t *testing.T) {
	needTool(t, "sqlite3", "mdb_load")
	cases := []struct {
		engine, name string
		make         func(t *testing.T, dir string)
		want         []string // in not_applicable, in this order
	}{
		{"bdb", "Berkeley DB", func(*testing.T, string) {}, nil},
		{"sqlite", "SQLite", func(t *testing.T, dir string) { sqlite(t, filepath.Join(dir, "app.db"), "CREATE TABLE t(k);") },
			[]string{"SQLite keeps no log history: no log retention, no salvage of an old primary's log tail, no catastrophic recovery (promote --catastrophic), no archive or point-in-time restore", "no hot-backup routine"}},
		{"lmdb", "LMDB", func(t *testing.T, dir string) {
			cmd := exec.Command("mdb_load", "-T", dir)
			cmd.Stdin = strings.NewReader("k\nv\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("mdb_load: %v: %s", err, out)
			}
		}, []string{"LMDB keeps no log history", "LMDB has no log to replay", "no hot-backup routine"}},
	}
	for _, c := range cases {
		t.Run(c.engine, func(t *testing.T) {
			primary, mirrorDir, _ := dirs(t)
			c.make(t, primary)
			mustRun(t, "sync", "--engine", c.engine, "--primary", primary, "--mirror", mirrorDir)
			r := mirrorctl(t, "status", "--json", "--mirror", mirrorDir)
			checkJSONContract(t, "status", r.Stdout)
			var st struct {
				Engine struct {
					Name          string   `json:"name"`
					NotApplicable []string `json:"not_applicable"`
				} `json:"engine"`
			}
			if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
				t.Fatalf("status --json: %v: %s", err, r)
			}
			if st.Engine.Name != c.name || len(st.Engine.NotApplicable) != len(c.want) {
				t.Fatalf("status --json says engine %q, not applicable %q; want %q and %d sentences", st.Engine.Name, st.Engine.NotApplicable, c.name, len(c.want))
			}
			for i, w := range c.want {
				if !strings.HasPrefix(st.Engine.NotApplicable[i], w) {
					t.Errorf("not_applicable[%d] = %q; want it to start %q", i, st.Engine.NotApplicable[i], w)
				}
			}
			human := mirrorctl(t, "status", "--mirror", mirrorDir).Stdout
			if !strings.Contains(human, "engine:      "+c.name+"\n") || len(c.want) > 0 && !strings.Contains(human, "not for it:  "+c.want[0]) {
				t.Errorf("status says:\n%s\nwant the engine %s and what does not apply to it", human, c.name)
			}
		})
	}
}

// TestLMDB_NoLogHistory: what needs a log history is refused for an LMDB mirror, with one line that
// says so, and nothing changed: promote --catastrophic, mount --archive; promote --primary salvages
// nothing and says why; and promote of an LMDB mirror as another engine is refused.
func TestLMDB_NoLogHistory(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	if r := mirrorctl(t, "workload", "lmdb", "run", "--dir", primary, "--txns", "3"); r.Code != 0 {
		t.Fatalf("make the environment: %s", r)
	}
	mustRun(t, "sync", "--primary", primary, "--mirror", mirrorDir)
	t.Cleanup(func() {
		if isMountPoint(mp) {
			lazyUnmount(mp)
		}
	})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"promote", "--catastrophic", "--mirror", mirrorDir}, "LMDB keeps no log history, so there is no catastrophic recovery of " + mirrorDir},
		{[]string{"mount", "--primary", primary, "--mirror", mirrorDir, "--archive", "s3://bucket/kv", mp}, "--archive does not serve LMDB yet: its data.mdb is a sparse file as large as the map"},
		{[]string{"promote", "--engine", "bdb", "--mirror", mirrorDir}, "--engine bdb, but the record of mirror " + mirrorDir + " (" + mirrorDir + "/.mirrorctl/mirror.json) says it mirrors LMDB: give --engine lmdb (or auto)"},
	} {
		before := snapshots(t, filepath.Dir(primary))
		r := mirrorctlWithin(t, 30*time.Second, c.args...)
		if r.Code != 2 || !strings.Contains(r.Stderr, c.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
			t.Errorf("mirrorctl %s: want exit 2 and one line saying %q: %s", strings.Join(c.args, " "), c.want, r)
		}
		sameSnapshot(t, "after the refusal", before, snapshots(t, filepath.Dir(primary)))
	}
	p, r := promoteJSON(t, "--dry-run", "--engine", "lmdb", "--primary", primary, "--mirror", mirrorDir)
	if r.Code != 0 || !p.OK || !strings.Contains(r.Stdout, "LMDB has no rotating log whose tail could be salvaged: nothing salvaged") {
		t.Errorf("promote --dry-run --primary of an LMDB mirror: want ok and a salvage note that nothing is salvaged: %s", r)
	}
}

// TestPromote_EngineMustMatchTheMirror: promote --engine names the engine of a mirror whose record
// is undecided, if its files agree, and is refused (exit 2, one line, nothing changed) when the
// record or the files say another engine.
func TestPromote_EngineMustMatchTheMirror(t *testing.T) {
	needTool(t, "sqlite3")
	cases := []struct {
		name   string
		file   bool   // a SQLite database on the mirror, under an undecided record
		engine string // --engine
		refuse string // "": promoted
	}{
		{"undecided with SQLite files as lmdb", true, "lmdb", "--engine lmdb, but the files of mirror MIRROR are SQLite (app.db): give --engine sqlite (or auto)"},
		{"undecided with SQLite files as sqlite", true, "sqlite", ""},
		{"undecided and empty as lmdb", false, "lmdb", "MIRROR holds no LMDB database: nothing to recover"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			primary, mirrorDir, _ := dirs(t)
			mustRun(t, "sync", "--primary", primary, "--mirror", mirrorDir)
			if got := recordedEngine(t, mirrorDir); got != "auto" {
				t.Fatalf("record names %q, want auto", got)
			}
			if c.file {
				sqlite(t, filepath.Join(mirrorDir, "app.db"), "CREATE TABLE t(k);")
			}
			before := snapshots(t, mirrorDir)
			r := mirrorctl(t, "promote", "--dry-run", "--engine", c.engine, "--mirror", mirrorDir)
			want := strings.ReplaceAll(c.refuse, "MIRROR", mirrorDir)
			switch {
			case c.refuse == "" && r.Code != 0:
				t.Errorf("promote --engine %s: %s", c.engine, r)
			case c.refuse != "" && (r.Code == 0 || !strings.Contains(r.Stderr, want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0):
				t.Errorf("promote --engine %s: want a failure and one line saying %q: %s", c.engine, want, r)
			}
			sameSnapshot(t, "after promote --dry-run", before, snapshots(t, mirrorDir))
		})
	}
}
