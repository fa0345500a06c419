package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Failover without downtime (--on-primary-error=failover): the primary's disk dies under a Berkeley DB
// workload and the workload never notices.

// failoverStatus is what these tests read of status --json.
type failoverStatus struct {
	State   string
	Primary string
	Mirror  string
	Healthy bool
	Stats   struct {
		Failovers   int
		PrimaryLost *struct {
			Primary, Serving, Cause string
			Pause                   int64 `json:"pause_ns"`
		} `json:"primary_lost"`
	}
}

func readFailoverStatus(t *testing.T, mp string) (failoverStatus, result) {
	t.Helper()
	r := mirrorctl(t, "status", "--json", mp)
	var s failoverStatus
	if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
		t.Fatalf("status --json: %s", r)
	}
	return s, r
}

// primaryOnDisk is workloadDirs with the primary on a disk of its own, which the test can kill.
func primaryOnDisk(t *testing.T) (disk *Disk, primary, mirrorDir, mp, acked string) {
	t.Helper()
	_, mirrorDir, mp, acked = workloadDirs(t)
	disk = newDisk(t, 300<<20)
	return disk, disk.sub(t, "env"), mirrorDir, mp, acked
}

// TestFailover_PrimaryDiskDiesUnderLoad: the workload finishes without an error although the primary
// died in its middle; every acknowledged commit is in the environment (after a clean stop, on the
// mirror that took over, with normal recovery); status said primary-lost; the old primary is refused
// as a primary; a new mirror attached while the workload ran is in sync.
func TestFailover_PrimaryDiskDiesUnderLoad(t *testing.T) {
	disk, primary, mirrorDir, mp, acked := primaryOnDisk(t)
	m := startMount(t, primary, mirrorDir, mp, "--on-primary-error=failover", "--rebuilt-files-dir", filepath.Join(t.TempDir(), "regions"))
	wait := startWorkload(t, mp, acked, "--txns", "3000", "--log-size", "65536", "--checkpoint-every", "200")
	eventually(t, time.Minute, "commits before the disk dies", func() bool { return ackedCount(t, acked) > 300 })
	disk.Shutdown(t)
	eventually(t, time.Minute, "the switch to the mirror", func() bool {
		s, _ := readFailoverStatus(t, mp)
		return s.State == "primary-lost"
	})
	s, r := readFailoverStatus(t, mp)
	if s.Healthy || s.Primary != mirrorDir || s.Stats.Failovers != 1 || s.Stats.PrimaryLost == nil || s.Stats.PrimaryLost.Primary != primary {
		t.Errorf("status after the switch does not say the mirror serves alone: %s", r)
	}
	if r.Code == 0 {
		t.Errorf("status exits 0 although the mount has a single copy: %s", r)
	}
	// Redundancy comes back while the workload runs.
	newMirror := filepath.Join(t.TempDir(), "env")
	if r := mirrorctl(t, "attach-mirror", mp, newMirror); r.Code != 0 {
		t.Fatalf("attach-mirror: %s", r)
	}
	if err := wait(); err != nil {
		t.Fatalf("the workload saw the primary's death: %v", err)
	}
	s, r = readFailoverStatus(t, mp)
	if !s.Healthy || s.State != "serving" || s.Mirror != newMirror {
		t.Errorf("status after attach-mirror is not in sync with the new mirror: %s", r)
	}
	m.Stop(t)
	c := workloadCheck(t, mirrorDir, acked)
	t.Logf("%d commits acknowledged, %d found", c.Acked, c.Found)
	dbVerify(t, mirrorDir)
	verifyClean(t, mirrorDir, newMirror)
	// The dead primary, its disk back, can never be this environment's primary again.
	disk.Remount(t)
	if r := mirrorctl(t, "sync", "--primary", primary, "--mirror", mirrorDir); r.Code == 0 {
		t.Errorf("the lost primary was synced onto the mirror that took over from it: %s", r)
	}
	if _, err := os.Stat(filepath.Join(mirrorDir, "accounts.db")); err != nil {
		t.Fatal(err)
	}
}
