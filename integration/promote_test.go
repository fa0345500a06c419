package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mirrorctl/mirrorctl/internal/testenv"
)

// promoteReport is the part of `mirrorctl promote --json` the tests read.
type promoteReport struct {
	OK       bool
	Replayed []struct {
		File  string
		Bytes int64
	}
	LogFiles       int `json:"log_files"`
	Salvaged       []struct{ File string }
	SalvageNote    string   `json:"salvage_note"`
	StaleMount     string   `json:"stale_mount_removed"`
	Generation     uint64   `json:"generation"`
	MayBeMissing   []string `json:"may_be_missing"`
	RegionsRemoved []string `json:"regions_removed"`
	Recovery       struct {
		FirstLog uint32 `json:"first_log"`
		LastLog  uint32 `json:"last_log"`
		LastLSN  string `json:"last_lsn"`
	}
}

func promoteJSON(t *testing.T, args ...string) (promoteReport, result) {
	t.Helper()
	r := mirrorctl(t, append([]string{"promote", "--json"}, args...)...)
	var p promoteReport
	if err := json.Unmarshal([]byte(r.Stdout), &p); err != nil && r.Code == 0 {
		t.Fatalf("promote --json printed no JSON: %s", r)
	}
	if r.Code == 0 {
		checkJSONContract(t, "promote", r.Stdout)
	}
	return p, r
}

// mirroredEnvironment mounts a fresh pair, runs the workload through the mount, and stops cleanly.
func mirroredEnvironment(t *testing.T, workloadArgs ...string) (primary, mirrorDir, mp, acked string) {
	t.Helper()
	needFUSE(t)
	needBDB(t)
	primary, mirrorDir, mp = dirs(t)
	acked = filepath.Join(t.TempDir(), "acked")
	m := startMount(t, primary, mirrorDir, mp)
	workloadRun(t, mp, acked, workloadArgs...)
	m.Stop(t)
	return
}

func TestPromote_AfterCleanStop(t *testing.T) {
	primary, mirrorDir, mp, acked := mirroredEnvironment(t, "--txns", "600", "--log-size", "65536", "--checkpoint-every", "100")
	p, r := promoteJSON(t, "--mirror", mirrorDir)
	if r.Code != 0 || !p.OK {
		t.Fatalf("promote: %s", r)
	}
	if p.Generation != 2 {
		t.Errorf("generation after the first promotion = %d, want 2", p.Generation)
	}
	if len(p.MayBeMissing) != 0 {
		t.Errorf("a cleanly stopped mirror reported possible losses: %v", p.MayBeMissing)
	}
	workloadCheck(t, mirrorDir, acked)
	dbVerify(t, mirrorDir)

	// Split brain: the old primary must not be mirrored over the promoted environment.
	before := treeSnapshot(t, mirrorDir)
	res := mirrorctl(t, "mount", "--primary", primary, "--mirror", mirrorDir, mp)
	if res.Code == 0 || !strings.Contains(res.Stderr, "promoted") || !strings.Contains(res.Stderr, "--rebuild-mirror") {
		t.Fatalf("mounting the old primary over the promoted mirror was not refused clearly: %s", res)
	}
	res = mirrorctl(t, "sync", "--primary", primary, "--mirror", mirrorDir)
	if res.Code == 0 {
		t.Fatalf("sync of the old primary over the promoted mirror was not refused: %s", res)
	}
	sameSnapshot(t, "promoted environment after refused mounts", before, treeSnapshot(t, mirrorDir))
	if isMountPoint(mp) {
		t.Fatal("a refused mount left a mount behind")
	}

	// A second promotion of the same directory is refused too.
	if _, r := promoteJSON(t, "--mirror", mirrorDir); r.Code == 0 || !strings.Contains(r.Stderr, "already") {
		t.Fatalf("second promote not refused: %s", r)
	}

	// The promoted environment serves as the new primary, mirrored to a third directory.
	third := filepath.Join(t.TempDir(), "third")
	m := startMount(t, mirrorDir, third, mp)
	workloadRun(t, mp, acked, "--txns", "100", "--start", "100000", "--log-size", "65536")
	m.Stop(t)
	verifyClean(t, mirrorDir, third)
	workloadCheck(t, mirrorDir, acked)
}

func TestPromote_OnlyTheTail(t *testing.T) {
	_, mirrorDir, _, acked := mirroredEnvironment(t, "--txns", "3000", "--log-size", "65536", "--checkpoint-every", "100")
	p, r := promoteJSON(t, "--mirror", mirrorDir)
	if r.Code != 0 {
		t.Fatalf("promote: %s", r)
	}
	if p.LogFiles < 10 {
		t.Fatalf("the workload made only %d log files: the test needs many", p.LogFiles)
	}
	if len(p.Replayed) == 0 || len(p.Replayed) > 3 {
		t.Fatalf("normal recovery should read only the files since the last checkpoint; it read %d of %d: %+v", len(p.Replayed), p.LogFiles, p.Replayed)
	}
	last := p.Replayed[len(p.Replayed)-1].File
	if !strings.HasSuffix(last, "log."+padLog(p.Recovery.LastLog)) {
		t.Errorf("the replayed files should end with the last log: %v, last log %d", p.Replayed, p.Recovery.LastLog)
	}
	workloadCheck(t, mirrorDir, acked)
}

func padLog(n uint32) string {
	s := "0000000000" + strings.TrimSpace(strings.Repeat(" ", 0)) + itoa(n)
	return s[len(s)-10:]
}

func itoa(n uint32) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func TestPromote_RefusedWhileMounted(t *testing.T) {
	needFUSE(t)
	needBDB(t)
	primary, mirrorDir, mp := dirs(t)
	acked := filepath.Join(t.TempDir(), "acked")
	m := startMount(t, primary, mirrorDir, mp)
	workloadRun(t, mp, acked, "--txns", "100")
	before := treeSnapshot(t, mirrorDir)
	_, r := promoteJSON(t, "--mirror", mirrorDir)
	if r.Code == 0 || !strings.Contains(r.Stderr, "mirrorctl unmount "+mp) {
		t.Fatalf("promote while mounted: want a refusal that says how to stop the mount: %s", r)
	}
	after := treeSnapshot(t, mirrorDir)
	delete(before, ".mirrorctl/lock")
	delete(after, ".mirrorctl/lock")
	sameSnapshot(t, "mirror after a refused promote", before, after)

	// A dry run works while the mount serves, and leaves the mirror alone.
	p, r := promoteJSON(t, "--mirror", mirrorDir, "--dry-run")
	if r.Code != 0 || !p.OK {
		t.Fatalf("dry run while mounted: %s", r)
	}
	after = treeSnapshot(t, mirrorDir)
	delete(after, ".mirrorctl/lock")
	sameSnapshot(t, "mirror after a dry run", before, after)
	m.Stop(t)
}

func TestPromote_StaleMountOfKilledProcess(t *testing.T) {
	needFUSE(t)
	needBDB(t)
	primary, mirrorDir, mp := dirs(t)
	acked := filepath.Join(t.TempDir(), "acked")
	m := startMount(t, primary, mirrorDir, mp)
	workloadRun(t, mp, acked, "--txns", "300", "--log-size", "65536", "--checkpoint-every", "50")
	_ = m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.done
	if !isMountPoint(mp) {
		t.Fatal("expected the killed mount to leave a dead mount behind")
	}
	p, r := promoteJSON(t, "--mirror", mirrorDir)
	if r.Code != 0 || p.StaleMount != mp {
		t.Fatalf("promote after a killed mount: want success and the stale mount %s removed: %s", mp, r)
	}
	if isMountPoint(mp) {
		t.Error("the stale mount is still there")
	}
	workloadCheck(t, mirrorDir, acked)
	dbVerify(t, mirrorDir)
}

func TestPromote_SalvagesThePrimarysTail(t *testing.T) {
	primary, mirrorDir, _, acked := mirroredEnvironment(t, "--txns", "300", "--log-size", "65536", "--checkpoint-every", "100")
	// The application went on writing to the primary after the mirror stopped (no checkpoint, so the
	// mirror's database files plus the salvaged log are enough for normal recovery).
	workloadRun(t, primary, acked, "--txns", "400", "--start", "300", "--no-recover", "--checkpoint-every", "0", "--log-size", "65536")
	p, r := promoteJSON(t, "--mirror", mirrorDir, "--primary", primary)
	if r.Code != 0 {
		t.Fatalf("promote with a salvageable primary: %s", r)
	}
	if len(p.Salvaged) == 0 {
		t.Fatalf("nothing salvaged although the primary's log is ahead: %s", r)
	}
	workloadCheck(t, mirrorDir, acked)
	dbVerify(t, mirrorDir)
}

func TestPromote_TailWithCheckpointNotSalvaged(t *testing.T) {
	primary, mirrorDir, _, acked := mirroredEnvironment(t, "--txns", "200", "--log-size", "65536")
	// Opening with recovery writes a checkpoint on the primary that the mirror's databases never saw.
	extra := filepath.Join(t.TempDir(), "extra")
	workloadRun(t, primary, extra, "--txns", "50", "--start", "200", "--log-size", "65536")
	p, r := promoteJSON(t, "--mirror", mirrorDir, "--primary", primary)
	if r.Code != 0 {
		t.Fatalf("promote: %s", r)
	}
	if len(p.Salvaged) != 0 || !strings.Contains(p.SalvageNote, "checkpoint") {
		t.Fatalf("a tail with a newer checkpoint must not be salvaged for normal recovery: %s", r)
	}
	workloadCheck(t, mirrorDir, acked)
	dbVerify(t, mirrorDir)
}

func TestPromote_Refusals(t *testing.T) {
	needBDB(t)
	neverSynced := t.TempDir()
	if err := os.MkdirAll(filepath.Join(neverSynced, ".mirrorctl"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(neverSynced, ".mirrorctl", "mirror.json"), `{"version":1,"primary_id":"x","state":"syncing"}`)
	writeFile(t, filepath.Join(neverSynced, "log.0000000001"), "partial")
	interrupted := t.TempDir() // a sync interrupted before it copied any log file
	if err := os.MkdirAll(filepath.Join(interrupted, ".mirrorctl"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(interrupted, ".mirrorctl", "mirror.json"), `{"version":1,"primary_id":"x","state":"syncing"}`)
	writeFile(t, filepath.Join(interrupted, "accounts.db"), "partial")
	notEnv := t.TempDir()
	writeFile(t, filepath.Join(notEnv, "hello.txt"), "hi")
	noLogs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(noLogs, ".mirrorctl"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(noLogs, ".mirrorctl", "mirror.json"), `{"version":1,"primary_id":"x","state":"in-sync","clean":true}`)
	corrupt := t.TempDir()
	if err := os.MkdirAll(filepath.Join(corrupt, ".mirrorctl"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(corrupt, ".mirrorctl", "mirror.json"), `{"version":1,"prim`)
	writeFile(t, filepath.Join(corrupt, "log.0000000001"), "x")

	cases := []struct {
		name, dir string
		extra     []string
		want      string
	}{
		{"missing directory", filepath.Join(notEnv, "nope"), nil, "does not exist"},
		{"not a mirror", notEnv, nil, "not a mirrorctl mirror"},
		{"no log files", noLogs, nil, "no Berkeley DB log files"},
		{"never in sync", neverSynced, nil, "never completely in sync"},
		{"interrupted sync without log files", interrupted, nil, "never completely in sync (state syncing)"},
		{"corrupt metadata", corrupt, nil, "corrupt"},
		{"utilities missing", neverSynced, []string{"--force", "--bdb-utils", "/nonexistent/db_"}, "apt-get install db-util"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before map[string]string
			if _, err := os.Stat(c.dir); err == nil {
				before = treeSnapshot(t, c.dir)
			}
			r := mirrorctl(t, append([]string{"promote", "--mirror", c.dir}, c.extra...)...)
			if r.Code == 0 || !strings.Contains(r.Stderr, c.want) {
				t.Fatalf("want a refusal mentioning %q: %s", c.want, r)
			}
			if lines := strings.Count(strings.TrimSpace(r.Stderr), "\n"); lines > 0 {
				t.Errorf("the error should be one line: %q", r.Stderr)
			}
			if before != nil {
				sameSnapshot(t, c.dir, before, treeSnapshot(t, c.dir))
			}
		})
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPromote_DryRunSaysWhatPromoteWouldSay: a degraded mount keeps its mark on the primary's side
// (the mirror's record says serving, while it runs and after a kill). The dry run, given only
// --mirror, must refuse it as the real promote does, not say it would succeed.
func TestPromote_DryRunSaysWhatPromoteWouldSay(t *testing.T) {
	needFUSE(t)
	needBDB(t)
	primary, mirrorDir, mp := dirs(t)
	acked := filepath.Join(t.TempDir(), "acked")
	m := startMount(t, primary, mirrorDir, mp, "--resync-interval", "0")
	workloadRun(t, mp, acked, "--txns", "100")
	victim := filepath.Join(mirrorDir, "accounts.db")
	if out, err := exec.Command("chattr", "+i", victim).CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "chattr +i on the mirror's file system: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", victim).Run() })
	m.ExpectDegraded = true
	workloadRun(t, mp, acked, "--txns", "50", "--start", "100")
	if s, r := status(t, mp); s.State != "degraded" {
		t.Fatalf("the mirror did not degrade: %s", r)
	}
	refused := func(when string) {
		t.Helper()
		_, r := promoteJSON(t, "--mirror", mirrorDir, "--dry-run")
		if r.Code == 0 || !strings.Contains(r.Stderr, "DEGRADED") || !strings.Contains(r.Stderr, "--force") {
			t.Errorf("dry run of a degraded mirror %s: want the refusal of the real promote: %s", when, r)
		}
	}
	refused("while mounted")
	m.Kill(t)
	refused("after the mount was killed")
	_, r := promoteJSON(t, "--mirror", mirrorDir)
	if r.Code == 0 || !strings.Contains(r.Stderr, "DEGRADED") {
		t.Errorf("promote of a degraded mirror after the mount was killed: want a refusal: %s", r)
	}
}
