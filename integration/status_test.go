package integration

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// exactSnapshot is treeSnapshot with every entry's modification time too: a command that only
// reads leaves all of it as it was.
func exactSnapshot(t *testing.T, dir string) map[string]string { return snapshotOf(t, dir, true) }

// TestStatus_ReadingCommandsNeverWrite runs status, verify and promote --dry-run on a plain Berkeley
// DB environment (never touched by mirrorctl) and on a synced pair, and checks that not one byte or
// modification time changed: a command that only reads never writes (the engine's utilities, run on
// an environment, rewrite its region files __db.*).
func TestStatus_ReadingCommandsNeverWrite(t *testing.T) {
	needBDB(t)
	base := t.TempDir()
	plain, primary, mirrorDir := filepath.Join(base, "plain"), filepath.Join(base, "primary"), filepath.Join(base, "mirror")
	for _, d := range []string{plain, primary, mirrorDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	acked := filepath.Join(base, "acked")
	workloadRun(t, plain, acked, "--txns", "200", "--checkpoint-every", "50", "--log-size", "65536")
	workloadRun(t, primary, acked, "--txns", "200", "--checkpoint-every", "50", "--log-size", "65536")
	mustRun(t, "sync", "--primary", primary, "--mirror", mirrorDir)
	if _, err := os.Stat(filepath.Join(plain, "__db.001")); err != nil {
		t.Fatalf("the plain environment has no region files, the test proves nothing: %v", err)
	}

	cases := []struct {
		name string
		args []string
	}{
		{"status of a plain environment", []string{"status", "--mirror", plain}},
		{"status --json of a plain environment", []string{"status", "--json", "--mirror", plain, "--primary", plain}},
		{"promote --dry-run of a plain environment", []string{"promote", "--dry-run", "--mirror", plain}},
		{"status of a synced mirror", []string{"status", "--mirror", mirrorDir, "--primary", primary}},
		{"verify of a synced pair", []string{"verify", "--primary", primary, "--mirror", mirrorDir}},
		{"promote --dry-run of a synced pair", []string{"promote", "--dry-run", "--catastrophic", "--mirror", mirrorDir, "--primary", primary}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := map[string]map[string]string{}
			for _, d := range []string{plain, primary, mirrorDir} {
				before[d] = exactSnapshot(t, d)
			}
			r := mirrorctl(t, c.args...)
			t.Logf("mirrorctl %s: %s", strings.Join(c.args, " "), r)
			for _, d := range []string{plain, primary, mirrorDir} {
				sameSnapshot(t, c.name+": "+filepath.Base(d), before[d], exactSnapshot(t, d))
			}
		})
	}
}

// statusReportJSON is the part of `mirrorctl status --json` that the exit status tests read.
type statusReportJSON struct {
	State     string
	Healthy   bool
	Problem   string
	MountDead bool `json:"mount_dead"`
}

// statusOf runs status with --json and without, checks that both exit alike and that healthy is true
// exactly when the exit status is 0, and returns the report and the plain run.
func statusOf(t *testing.T, args ...string) (statusReportJSON, result) {
	t.Helper()
	plain := mirrorctl(t, append([]string{"status"}, args...)...)
	r := mirrorctl(t, append([]string{"status", "--json"}, args...)...)
	if r.Code != plain.Code {
		t.Errorf("status %v exits %d with --json and %d without", args, r.Code, plain.Code)
	}
	var s statusReportJSON
	if r.Code == 0 || r.Code == 1 || r.Code == 3 {
		checkJSONContract(t, "status", r.Stdout)
		if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
			t.Fatalf("status --json %v: %v: %s", args, err, r)
		}
		if s.Healthy != (r.Code == 0) || (s.Problem == "") != (r.Code == 0) {
			t.Errorf("status --json %v: healthy %v, problem %q with exit %d", args, s.Healthy, s.Problem, r.Code)
		}
	}
	if plain.Code != 0 && strings.Count(strings.TrimSpace(plain.Stderr), "\n") > 0 {
		t.Errorf("status %v: the error should be one line: %q", args, plain.Stderr)
	}
	return s, plain
}

// TestStatus_ExitStatusTellsHealthyFromNot: a monitoring script reads the exit status. 0: a mount
// serves the mirror, or a stopped mirror is in sync; 1: not healthy; 2: the path does not exist or
// is not a mirror; 3: degraded (TestFaults_MirrorDiskDiesUnderDegrade).
func TestStatus_ExitStatusTellsHealthyFromNot(t *testing.T) {
	base := t.TempDir()
	mk := func(name string) string {
		d := filepath.Join(base, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	primary, synced := mk("primary"), mk("synced")
	writeFile(t, filepath.Join(primary, "data.db"), strings.Repeat("x", 1000))
	mustRun(t, "sync", "--primary", primary, "--mirror", synced)
	record := func(name, rec string) string {
		d := mk(name)
		mk(name + "/.mirrorctl")
		writeFile(t, filepath.Join(d, ".mirrorctl", "mirror.json"), rec)
		return d
	}
	interrupted := record("interrupted", `{"version":1,"primary_id":"x","state":"syncing"}`)
	promoted := record("promoted", `{"version":1,"primary_id":"x","state":"promoted","clean":true}`)
	plain := mk("plain")
	writeFile(t, filepath.Join(plain, "hello.txt"), "hi")
	file := filepath.Join(base, "file")
	writeFile(t, file, "x")

	cases := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"in sync", []string{"--mirror", synced, "--primary", primary}, 0, ""},
		{"missing path", []string{"--mirror", filepath.Join(base, "nope")}, 2, "does not exist"},
		{"a file", []string{"--mirror", file}, 2, "not a directory"},
		{"not a mirror", []string{"--mirror", plain}, 2, "not a mirrorctl mirror"},
		{"a primary", []string{"--mirror", primary}, 2, "not a mirror"},
		{"missing mount point", []string{filepath.Join(base, "nope")}, 2, "does not exist"},
		{"empty directory", []string{"--mirror", mk("empty")}, 1, "never synced"},
		{"interrupted sync", []string{"--mirror", interrupted}, 1, "interrupted"},
		{"promoted", []string{"--mirror", promoted}, 1, "promoted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, r := statusOf(t, c.args...)
			if r.Code != c.code || !strings.Contains(r.Stderr+r.Stdout, c.says) {
				t.Errorf("status %v: want exit %d saying %q: %s", c.args, c.code, c.says, r)
			}
		})
	}
}

// TestStatus_KilledMountIsNotHealthy: after a SIGKILL of the mount process its mount point answers
// ENOTCONN; status says the mount is dead and how to fix it, and exits 1, until the fix is followed.
func TestStatus_KilledMountIsNotHealthy(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	m := startMount(t, primary, mirrorDir, mp)
	writeFile(t, filepath.Join(mp, "data.db"), "served")
	if s, r := statusOf(t, mp); r.Code != 0 || !s.Healthy || s.State != "serving" {
		t.Fatalf("status of a serving mount: want exit 0, healthy: %s", r)
	}
	if _, r := statusOf(t, "--mirror", mirrorDir); r.Code != 0 {
		t.Fatalf("status --mirror of a served mirror: want exit 0: %s", r)
	}
	m.KillProcess(t)
	eventually(t, time.Minute, "the mount process to end", m.Exited)
	// Once the kernel's cached attributes expire, the dead mount point answers ENOTCONN.
	eventually(t, 30*time.Second, "the dead mount point to answer ENOTCONN", func() bool {
		_, err := os.Stat(mp)
		return errors.Is(err, syscall.ENOTCONN)
	})
	s, r := statusOf(t, mp)
	if r.Code != 1 || !s.MountDead || s.Healthy || !strings.Contains(r.Stdout, "MOUNT IS DEAD") ||
		!strings.Contains(r.Stderr, "mirrorctl unmount "+mp) || !strings.Contains(r.Stderr, "mount again") {
		t.Errorf("status of a killed mount: want exit 1, the mount dead and the fix (unmount, then mount again): %+v %s", s, r)
	}
	s, r = statusOf(t, "--mirror", mirrorDir)
	if r.Code != 1 || !s.MountDead || !strings.Contains(r.Stderr, "mirrorctl unmount "+mp) {
		t.Errorf("status --mirror of a killed mount's mirror: want exit 1 and the dead mount named: %+v %s", s, r)
	}
	// Follow the fix.
	mustRun(t, "unmount", mp)
	if _, r := statusOf(t, "--mirror", mirrorDir); r.Code != 1 || !strings.Contains(r.Stderr, "without a clean stop") {
		t.Errorf("status --mirror after the dead mount was removed: want exit 1 until it is mounted again: %s", r)
	}
	m2 := startMount(t, primary, mirrorDir, mp)
	if s, r := statusOf(t, mp); r.Code != 0 || !s.Healthy {
		t.Errorf("status once mounted again: want exit 0: %s", r)
	}
	m2.Stop(t)
	if _, r := statusOf(t, "--mirror", mirrorDir, "--primary", primary); r.Code != 0 {
		t.Errorf("status --mirror after a clean stop: want exit 0: %s", r)
	}
}
