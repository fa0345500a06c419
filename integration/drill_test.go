package integration

import (
	"encoding/json"
	"testing"
)

// TestDrill_NoCommitLost runs the README's main command both ways the primary can die and requires
// that every acknowledged commit is on the promoted mirror.
func TestDrill_NoCommitLost(t *testing.T) {
	needFUSE(t)
	needBDB(t)
	needTool(t, "losetup", "mkfs.xfs", "xfs_io")
	for _, kill := range []string{"disk", "mount"} {
		t.Run(kill, func(t *testing.T) {
			r := mirrorctl(t, "drill", "--json", "--kill", kill, "--duration", "4s", "--dir", t.TempDir())
			var res struct {
				Acknowledged, Found, Lost, Wrong int
				LogFiles                         int   `json:"log_files"`
				ReplayedLogs                     int   `json:"replayed_logs"`
				PromoteNs                        int64 `json:"promote_ns"`
			}
			if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || r.Code != 0 {
				t.Fatalf("drill: %s", r)
			}
			checkJSONContract(t, "drill", r.Stdout)
			if res.Acknowledged == 0 || res.Lost != 0 || res.Wrong != 0 || res.Found != res.Acknowledged {
				t.Fatalf("drill lost commits: %+v", res)
			}
			if res.LogFiles < 2 {
				t.Errorf("the drill's logs did not rotate (%d log files)", res.LogFiles)
			}
			t.Logf("drill (%s): %+v", kill, res)
		})
	}
}

// TestDrill_NoDowntime runs drill --no-downtime for every engine: the application commits on
// through the primary disk's death, a new mirror is attached while it does, and every acknowledged
// commit is on the mirror that took over.
func TestDrill_NoDowntime(t *testing.T) {
	needFUSE(t)
	needBDB(t)
	needTool(t, "losetup", "mkfs.xfs", "xfs_io")
	for _, eng := range []string{"bdb", "sqlite", "lmdb"} {
		t.Run(eng, func(t *testing.T) {
			r := mirrorctl(t, "drill", "--json", "--no-downtime", "--engine", eng, "--duration", "3s", "--dir", t.TempDir())
			var res struct {
				Acknowledged, Found, Lost, Wrong int
				NoDowntime                       bool  `json:"no_downtime"`
				PauseNs                          int64 `json:"longest_pause_ns"`
				Checked                          string
			}
			if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || r.Code != 0 {
				t.Fatalf("drill --no-downtime: %s", r)
			}
			checkJSONContract(t, "drill", r.Stdout)
			if !res.NoDowntime || res.Acknowledged == 0 || res.Lost != 0 || res.Wrong != 0 || res.Found != res.Acknowledged || res.PauseNs <= 0 {
				t.Fatalf("drill --no-downtime: %+v\n%s", res, r)
			}
			t.Logf("drill --no-downtime (%s): %+v", eng, res)
		})
	}
}
