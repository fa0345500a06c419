package integration

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/mirrorctl/mirrorctl/internal/s3server"
)

// TestDrill_LoseMachine: with --lose machine, both disks die with the mount under load and the
// environment is restored from the object store the drill runs: the commits restored are the
// acknowledged ones but at most those acknowledged after the archive's last push began (counted),
// none wrong, and the time to restore is reported.
func TestDrill_LoseMachine(t *testing.T) {
	needFUSE(t)
	needBDB(t)
	s3server.Binary(t)
	dir := t.TempDir()
	r := mirrorctl(t, "drill", "--json", "--lose", "machine", "--duration", "3s", "--dir", dir)
	var res struct {
		Lose                             string
		Acknowledged, Found, Lost, Wrong int
		AtRisk                           int    `json:"at_risk"`
		RestoreNs                        int64  `json:"restore_ns"`
		IntervalNs                       int64  `json:"archive_interval_ns"`
		Checked                          string `json:"checked"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || r.Code != 0 {
		t.Fatalf("drill --lose machine: %v: %s", err, r)
	}
	checkJSONContract(t, "drill", r.Stdout)
	if res.Lose != "machine" || res.Acknowledged == 0 || res.Found == 0 || res.Wrong != 0 || res.Found+res.Lost != res.Acknowledged {
		t.Fatalf("drill --lose machine: %+v", res)
	}
	if res.Lost > res.AtRisk || res.AtRisk >= res.Acknowledged || res.RestoreNs <= 0 || res.IntervalNs != 1e9 || res.Checked != "restored from the object store" {
		t.Fatalf("drill --lose machine: lost %d of %d at risk, restore %d ns: %+v", res.Lost, res.AtRisk, res.RestoreNs, res)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("the drill left %v in its --dir", ents)
	}
	t.Logf("drill --lose machine: %+v", res)
}

// TestDrill_LoseMachineWithoutVersitygw: without versitygw the drill fails in one line that names
// make versitygw, and makes nothing; --lose with --kill, or another loss, is a usage error.
func TestDrill_LoseMachineWithoutVersitygw(t *testing.T) {
	dir := t.TempDir()
	r := mirrorctlEnvDir(t, t.TempDir(), []string{"MIRRORCTL_VERSITYGW=", "GOBIN=", "GOPATH=" + t.TempDir(), "PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
		"drill", "--lose", "machine", "--duration", "1s", "--dir", dir)
	if r.Code != 1 || !strings.Contains(r.Stderr, "make versitygw") || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
		t.Fatalf("drill --lose machine without versitygw: want exit 1 and one line naming make versitygw: %s", r)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("the refused drill made %v", ents)
	}
	for _, args := range [][]string{{"--lose", "machine", "--kill", "disk"}, {"--lose", "disk"}} {
		if r := mirrorctl(t, append([]string{"drill"}, args...)...); r.Code != 2 {
			t.Errorf("drill %v: want a usage error: %s", args, r)
		}
	}
}
