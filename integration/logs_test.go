package integration

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// logNumbers lists the numbers of the log files in dir.
func logNumbers(t *testing.T, dir string) []int {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "log.??????????"))
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, m := range matches {
		if n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(m), "log.")); err == nil {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

// copyDir copies a directory with cp -a, for recoveries that must not touch the original.
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	return to
}

// TestLogs_AutoRemovedLogsStayOnTheMirror: with DB_LOG_AUTO_REMOVE the primary deletes its old logs;
// the mirror keeps them, seals the complete ones, and catastrophic recovery on a copy of the mirror
// works from the whole history and holds every acknowledged commit.
func TestLogs_AutoRemovedLogsStayOnTheMirror(t *testing.T) {
	primary, mirrorDir, mp, acked := workloadDirs(t)
	m := startMount(t, primary, mirrorDir, mp)
	workloadRun(t, mp, acked, "--txns", "2000", "--log-size", "65536", "--checkpoint-every", "100", "--auto-remove")

	var st struct {
		Stats struct {
			Logs struct {
				Current  string
				Sealed   int
				Retained int
			}
		}
	}
	r := mustRun(t, "status", "--json", mp)
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Fatal(err)
	}
	m.Stop(t)

	p, q := logNumbers(t, primary), logNumbers(t, mirrorDir)
	if len(p) == 0 || p[0] == 1 {
		t.Fatalf("the primary should have removed its first logs (auto-remove): %v", p)
	}
	if len(q) == 0 || q[0] != 1 || q[len(q)-1] != p[len(p)-1] || len(q) != q[len(q)-1] {
		t.Fatalf("the mirror should hold every log from 1 to %d: %v", p[len(p)-1], q)
	}
	if st.Stats.Logs.Sealed < len(q)-2 || st.Stats.Logs.Retained < len(q)-len(p) || !strings.HasSuffix(st.Stats.Logs.Current, "log."+pad10(p[len(p)-1])) {
		t.Errorf("status logs = %+v; want about %d sealed, %d retained, current log %d", st.Stats.Logs, len(q)-1, len(q)-len(p), p[len(p)-1])
	}
	verifyClean(t, primary, mirrorDir) // retained logs are no difference

	// The mirror's record holds a checksum of every sealed log.
	var rec struct{ Sealed map[string]string }
	b, _ := os.ReadFile(filepath.Join(mirrorDir, ".mirrorctl", "mirror.json"))
	if json.Unmarshal(b, &rec) != nil || len(rec.Sealed) < len(q)-2 {
		t.Errorf("sealed checksums in the record: %d, want about %d", len(rec.Sealed), len(q)-1)
	}

	cp := copyDir(t, mirrorDir)
	if out, err := exec.Command("db_recover", "-c", "-h", cp).CombinedOutput(); err != nil {
		t.Fatalf("catastrophic recovery on a copy of the mirror: %v: %s", err, out)
	}
	workloadCheck(t, cp, acked)
}

func pad10(n int) string {
	s := "0000000000" + itoa(uint32(n))
	return s[len(s)-10:]
}

// TestLogs_Retention: retention by count and by size drops exactly the oldest retained logs, and never
// a log that normal recovery of the mirror still needs.
func TestLogs_Retention(t *testing.T) {
	needFUSE(t)
	needBDB(t)
	cases := []struct {
		policy string
		want   int // retained logs left
	}{
		{"5", 5},
		{"300KiB", 4}, // 64 KiB logs: 4 fit in 300 KiB, 5 do not
	}
	for _, c := range cases {
		t.Run(c.policy, func(t *testing.T) {
			primary, mirrorDir, mp := dirs(t)
			acked := filepath.Join(t.TempDir(), "acked")
			m := startMount(t, primary, mirrorDir, mp, "--retain-logs", c.policy)
			workloadRun(t, mp, acked, "--txns", "2000", "--log-size", "65536", "--checkpoint-every", "100", "--auto-remove")
			m.Stop(t)
			p, q := logNumbers(t, primary), logNumbers(t, mirrorDir)
			retained := 0
			for _, n := range q {
				if n < p[0] {
					retained++
				}
			}
			if retained != c.want {
				t.Fatalf("retention %s kept %d retained logs, want %d (primary %v, mirror %v)", c.policy, retained, c.want, p, q)
			}
			if q[len(q)-1]-q[0]+1 != len(q) {
				t.Fatalf("retention left a gap in the mirror's logs: %v", q)
			}
			workloadCheck(t, mirrorDir, acked)
		})
	}

	t.Run("needed by recovery", func(t *testing.T) {
		primary, mirrorDir, mp := dirs(t)
		acked := filepath.Join(t.TempDir(), "acked")
		m := startMount(t, primary, mirrorDir, mp, "--retain-logs", "1")
		workloadRun(t, mp, acked, "--txns", "1500", "--log-size", "65536", "--checkpoint-every", "400")
		// An operator removes every log but the newest through the mount, the ones the last
		// checkpoint needs among them. Retention of 1 must still keep those on the mirror.
		p := logNumbers(t, primary)
		for _, n := range p[:len(p)-1] {
			if err := os.Remove(filepath.Join(mp, "log."+pad10(n))); err != nil {
				t.Fatal(err)
			}
		}
		m.Stop(t)
		p2, err := filepath.Glob(filepath.Join(primary, "log.*"))
		if err != nil || len(p2) != 1 {
			t.Fatalf("primary logs: %v", p2)
		}
		// Normal recovery of the mirror needs every log from its last checkpoint on.
		out, err := exec.Command("db_recover", "-h", copyDir(t, mirrorDir)).CombinedOutput()
		if err != nil {
			t.Fatalf("normal recovery of the mirror failed after retention: %v: %s (mirror logs %v)", err, out, logNumbers(t, mirrorDir))
		}
		if q := logNumbers(t, mirrorDir); len(q) >= len(p) {
			t.Errorf("retention of 1 dropped nothing: %v", q)
		}
	})
}

// TestLogs_DBConfigDirectories: logs and databases in the directories DB_CONFIG names are mirrored,
// found by promote, and recovered.
func TestLogs_DBConfigDirectories(t *testing.T) {
	primary, mirrorDir, mp, acked := workloadDirs(t)
	for _, d := range []string{"logs", "data"} {
		if err := os.Mkdir(filepath.Join(primary, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(primary, "DB_CONFIG"), "set_lg_dir logs\nset_data_dir data\n")
	m := startMount(t, primary, mirrorDir, mp)
	workloadRun(t, mp, acked, "--txns", "800", "--log-size", "65536", "--checkpoint-every", "100")
	m.Stop(t)
	if len(logNumbers(t, filepath.Join(mirrorDir, "logs"))) < 2 {
		t.Fatal("no log files in the mirror's logs directory")
	}
	if _, err := os.Stat(filepath.Join(mirrorDir, "data", "accounts.db")); err != nil {
		t.Fatalf("database not in the mirror's data directory: %v", err)
	}
	pr, r := promoteJSON(t, "--mirror", mirrorDir)
	if r.Code != 0 || len(pr.Replayed) == 0 || !strings.HasPrefix(pr.Replayed[0].File, "logs/") {
		t.Fatalf("promote with DB_CONFIG directories: %s", r)
	}
	workloadCheck(t, mirrorDir, acked)
}

// TestSync_LiveEnvironment: sync of a running environment (not mounted) performs the hot-backup
// routine; after it the mirror holds every commit acknowledged before the sync began; a second sync
// with nothing changed copies nothing; sync refuses a mirror that a mount keeps in sync.
func TestSync_LiveEnvironment(t *testing.T) {
	primary, mirrorDir, _, acked := workloadDirs(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wl := exec.CommandContext(ctx, bin, "workload", "run", "--dir", primary, "--duration", "5s", "--log-size", "65536", "--checkpoint-every", "200")
	out, err := os.Create(acked)
	if err != nil {
		t.Fatal(err)
	}
	wl.Stdout = out
	if err := wl.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "commits before the sync", func() bool {
		st, err := os.Stat(acked)
		return err == nil && st.Size() > 20000
	})
	before, err := os.ReadFile(acked)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(before), "\n")
	beforeFile := filepath.Join(t.TempDir(), "acked-before")
	writeFile(t, beforeFile, strings.Join(lines[:len(lines)-1], ""))

	var first struct {
		BytesCopied int64 `json:"bytes_copied"`
		LogsMoved   int   `json:"logs_moved"`
		Recovered   bool
	}
	r := mustRun(t, "sync", "--json", "--checkpoint", "--recover", "--primary", primary, "--mirror", mirrorDir)
	if err := json.Unmarshal([]byte(r.Stdout), &first); err != nil || !first.Recovered || first.BytesCopied == 0 {
		t.Fatalf("first sync: %s", r)
	}
	if err := wl.Wait(); err != nil {
		t.Fatalf("workload: %v", err)
	}
	out.Close()

	// Nothing changed since: the next syncs copy nothing.
	mustRun(t, "sync", "--primary", primary, "--mirror", mirrorDir, "--keep-primary-logs")
	var again struct {
		BytesCopied int64 `json:"bytes_copied"`
	}
	r = mustRun(t, "sync", "--json", "--keep-primary-logs", "--primary", primary, "--mirror", mirrorDir)
	if err := json.Unmarshal([]byte(r.Stdout), &again); err != nil || again.BytesCopied != 0 {
		t.Fatalf("a sync with nothing changed copied %d bytes: %s", again.BytesCopied, r)
	}

	// A few more commits: the next sync copies what changed, far less than the first.
	workloadRun(t, primary, filepath.Join(t.TempDir(), "more"), "--txns", "20", "--start", "900000000", "--log-size", "65536", "--checkpoint-every", "0", "--no-recover")
	var third struct {
		BytesCopied   int64 `json:"bytes_copied"`
		BytesExamined int64 `json:"bytes_examined"`
	}
	r = mustRun(t, "sync", "--json", "--keep-primary-logs", "--primary", primary, "--mirror", mirrorDir)
	if err := json.Unmarshal([]byte(r.Stdout), &third); err != nil || third.BytesCopied == 0 || third.BytesCopied > third.BytesExamined/2 {
		t.Fatalf("a sync after 20 commits should copy only the changed chunks, a small part of the %d bytes it examined; it copied %d: %s", third.BytesExamined, third.BytesCopied, r)
	}
	t.Logf("a sync after 20 commits copied %d of the %d bytes it examined", third.BytesCopied, third.BytesExamined)

	// A sync without --recover leaves a mirror that only catastrophic recovery may promote.
	if _, r := promoteJSON(t, "--mirror", mirrorDir); r.Code == 0 || !strings.Contains(r.Stderr, "--catastrophic") {
		t.Fatalf("promote of a live copy without catastrophic recovery must be refused: %s", r)
	}
	if _, r := promoteJSON(t, "--mirror", mirrorDir, "--catastrophic"); r.Code != 0 {
		t.Fatalf("promote --catastrophic: %s", r)
	}
	workloadCheck(t, mirrorDir, beforeFile)

	// A mirror kept in sync by a mount refuses sync and points at status.
	p2, q2, mp2 := dirs(t)
	m := startMount(t, p2, q2, mp2)
	r = mirrorctl(t, "sync", "--primary", p2, "--mirror", q2)
	if r.Code == 0 || !strings.Contains(r.Stderr, "mirrorctl status "+mp2) {
		t.Fatalf("sync of a mounted mirror: want a refusal pointing at status: %s", r)
	}
	m.Stop(t)
}
