package integration

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
	return statusAs[failoverStatus](t, mp)
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
	if r := mirrorctl(t, "attach-mirror", mp, filepath.Join(t.TempDir(), "early")); r.Code == 0 || !strings.Contains(r.Stderr, "is in place") {
		t.Errorf("attach-mirror while the primary serves was not refused: %s", r)
	}
	inoBefore := inodeOf(t, filepath.Join(mp, "accounts.db"))
	// A reader opened before the disk dies reads on after it, from the mirror.
	note := filepath.Join(mp, "note.txt")
	if err := os.WriteFile(note, []byte("written before the disk died\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reader, err := os.Open(note)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	disk.Shutdown(t)
	eventually(t, time.Minute, "the switch to the mirror", func() bool {
		s, _ := readFailoverStatus(t, mp)
		return s.State == "primary-lost"
	})
	stranger := t.TempDir()
	if err := os.WriteFile(filepath.Join(stranger, "keep-me"), []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := mirrorctl(t, "attach-mirror", mp, stranger); r.Code == 0 || !strings.Contains(r.Stderr, "not empty") {
		t.Errorf("attach-mirror onto a non-empty directory was not refused: %s", r)
	}
	// Dropped from the page cache, so that the read reaches the mount, which has the mirror answer it.
	if err := unix.Fadvise(int(reader.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(reader); err != nil || string(b) != "written before the disk died\n" {
		t.Errorf("a reader opened before the switch reads %q, %v after it", b, err)
	}
	reader.Close()                      // before the unmount
	time.Sleep(1100 * time.Millisecond) // past the kernel's entry timeout: the name is looked up again
	if ino := inodeOf(t, filepath.Join(mp, "accounts.db")); ino != inoBefore {
		t.Errorf("accounts.db changed its inode number at the switch: %d, then %d", inoBefore, ino)
	}
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
	verifyClean(t, mirrorDir, newMirror) // before recovery, which writes a checkpoint to the log
	if out, err := exec.Command("db_recover", "-h", mirrorDir).CombinedOutput(); err != nil {
		t.Fatalf("normal recovery of the mirror that took over: %v: %s", err, out)
	}
	c := workloadCheck(t, mirrorDir, acked)
	t.Logf("%d commits acknowledged, %d found", c.Acked, c.Found)
	dbVerify(t, mirrorDir)
	// The dead primary, its disk back, can never be this environment's primary again.
	disk.Remount(t)
	if r := mirrorctl(t, "sync", "--primary", primary, "--mirror", mirrorDir); r.Code == 0 {
		t.Errorf("the lost primary was synced onto the mirror that took over from it: %s", r)
	}
	if _, err := os.Stat(filepath.Join(mirrorDir, "accounts.db")); err != nil {
		t.Fatal(err)
	}
}

// TestFailover_KilledRightAfterTheSwitch: the mount is SIGKILLed just after the mirror took over. The
// mirror's record says what happened (promoted online, the primary's error); promote and a sync from
// the old primary are refused; mounting the mirror as the primary of a new mirror serves every
// acknowledged commit.
func TestFailover_KilledRightAfterTheSwitch(t *testing.T) {
	disk, primary, mirrorDir, mp, acked := primaryOnDisk(t)
	m := startMount(t, primary, mirrorDir, mp, "--on-primary-error=failover", "--rebuilt-files-dir", filepath.Join(t.TempDir(), "regions"))
	wait := startWorkload(t, mp, acked, "--txns", "100000", "--log-size", "65536", "--checkpoint-every", "200")
	eventually(t, time.Minute, "commits before the disk dies", func() bool { return ackedCount(t, acked) > 300 })
	disk.Shutdown(t)
	eventually(t, time.Minute, "the switch to the mirror", func() bool {
		s, _ := readFailoverStatus(t, mp)
		return s.State == "primary-lost"
	})
	m.Kill(t)
	_ = wait() // the mount is gone: the workload fails now, which is the crash under test
	var rec struct {
		State       string `json:"state"`
		PrimaryLost string `json:"primary_lost"`
	}
	b, err := os.ReadFile(filepath.Join(mirrorDir, ".mirrorctl", "mirror.json"))
	if err != nil || json.Unmarshal(b, &rec) != nil || rec.State != "promoted" || rec.PrimaryLost == "" {
		t.Fatalf("the record of the mirror that took over does not say so: %s (%v)", b, err)
	}
	if r := mirrorctl(t, "promote", "--mirror", mirrorDir); r.Code == 0 || !strings.Contains(r.Stderr, "took over") {
		t.Errorf("promote of a mirror that took over online is not refused as such: %s", r)
	}
	disk.Remount(t)
	if r := mirrorctl(t, "sync", "--primary", primary, "--mirror", mirrorDir); r.Code == 0 {
		t.Errorf("the lost primary was synced onto the mirror that took over from it: %s", r)
	}
	// The next start: the mirror that took over is the primary of a new mirror.
	newMirror := filepath.Join(t.TempDir(), "env")
	mp2 := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mp2, 0o755); err != nil {
		t.Fatal(err)
	}
	m2 := startMount(t, mirrorDir, newMirror, mp2)
	// The application's next open runs normal recovery, as after any crash.
	if out, err := exec.Command("db_recover", "-h", mp2).CombinedOutput(); err != nil {
		t.Fatalf("db_recover through the new mount: %v: %s", err, out)
	}
	c := workloadCheck(t, mp2, acked)
	t.Logf("%d commits acknowledged before the SIGKILL, %d found", c.Acked, c.Found)
	m2.Stop(t)
	verifyClean(t, mirrorDir, newMirror)
}

func inodeOf(t *testing.T, p string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}
