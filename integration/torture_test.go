package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestTorture_ShortCampaignLosesNothing is the short fault campaign CI runs (make torture runs the
// long one): one trial of each fault kind at a random moment, no acknowledged commit lost, no
// unexpected outcome, and nothing left behind (mounts, loop devices, scratch directories); for every
// engine.
func TestTorture_ShortCampaignLosesNothing(t *testing.T) {
	needFUSE(t)
	needTool(t, "losetup", "mkfs.xfs", "xfs_io")
	// Berkeley DB, the default, then each other engine's workload (drill --engine).
	for _, eng := range []string{"bdb", "sqlite", "lmdb"} {
		t.Run(eng, func(t *testing.T) {
			if eng == "bdb" {
				needBDB(t)
			}
			shortCampaign(t, "--engine", eng)
		})
	}
}

// shortCampaign runs drill --trials 6 with extra arguments and checks it.
func shortCampaign(t *testing.T, extra ...string) {
	t.Helper()
	scratch := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"drill", "--trials", "6", "--duration", "3s", "--json"}, extra...)...)
	cmd.Env = append(os.Environ(), "TMPDIR="+scratch) // the trials' directories, to check that none stays
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := cmd.Run()
	var s struct {
		Seed     int64
		Complete bool
		Trials   []struct {
			Fault  string
			Error  string
			Result struct {
				Acknowledged, Found, Lost, Wrong int
				Kept                             string
			}
		}
		Total struct{ Trials, Acknowledged, Found, Lost, Wrong, Unexpected int }
	}
	if err := json.Unmarshal(out.Bytes(), &s); err != nil {
		t.Fatalf("drill --trials: %v (%v):\n%s\n%s", runErr, err, out.String(), errb.String())
	}
	kinds := map[string]bool{}
	for _, tr := range s.Trials {
		kinds[tr.Fault] = true
		if tr.Error != "" || tr.Result.Lost+tr.Result.Wrong > 0 || tr.Result.Acknowledged == 0 {
			t.Errorf("trial %s (seed %d): %+v; kept %s", tr.Fault, s.Seed, tr, tr.Result.Kept)
		}
	}
	if len(kinds) != 6 || !s.Complete || s.Total.Found != s.Total.Acknowledged || runErr != nil {
		t.Fatalf("campaign (seed %d): want 6 kinds, complete, all found, exit 0: kinds %v, total %+v, %v\n%s", s.Seed, kinds, s.Total, runErr, errb.String())
	}
	if ents, _ := os.ReadDir(scratch); len(ents) != 0 && !t.Failed() {
		t.Errorf("the campaign left %d entries in its scratch directory, e.g. %s", len(ents), ents[0].Name())
	}
	mounts, _ := os.ReadFile("/proc/mounts")
	loops, _ := exec.Command("losetup", "-a").CombinedOutput()
	for _, table := range [][]byte{mounts, loops} {
		if strings.Contains(string(table), scratch) {
			t.Errorf("the campaign left a mount or loop device under %s:\n%s", scratch, table)
		}
	}
	t.Logf("campaign (seed %d): %+v", s.Seed, s.Total)
}
