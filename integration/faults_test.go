package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// statusJSON is the part of `status --json` the fault tests read.
type statusJSON struct {
	State    string
	Degraded *struct {
		Reason string
		Dirty  []string
	}
}

func status(t *testing.T, mp string) (statusJSON, result) {
	t.Helper()
	return statusAs[statusJSON](t, mp)
}

// statusAs runs status --json of mp and decodes what a test reads of it into a T.
func statusAs[T any](t *testing.T, mp string) (T, result) {
	t.Helper()
	r := mirrorctl(t, "status", "--json", mp)
	var s T
	if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
		t.Fatalf("status --json: %s", r)
	}
	return s, r
}

// startWorkload runs the workload in the background through dir, appending acknowledged keys to
// acked; wait returns its error.
func startWorkload(t *testing.T, dir, acked string, args ...string) (wait func() error) {
	t.Helper()
	f, err := os.OpenFile(acked, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	cmd := exec.CommandContext(ctx, bin, append([]string{"workload", "run", "--dir", dir}, args...)...)
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = f, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var res error
	go func() {
		res = cmd.Wait()
		f.Close()
		cancel()
		if res != nil {
			res = &workloadError{err: res, stderr: errb.String()}
		}
		close(done)
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	return func() error {
		<-done
		return res
	}
}

type workloadError struct {
	err    error
	stderr string
}

func (e *workloadError) Error() string { return e.err.Error() + ": " + e.stderr }

func ackedCount(t *testing.T, acked string) int {
	b, _ := os.ReadFile(acked)
	return bytes.Count(b, []byte("\n"))
}

// workloadDirs starts a test that runs the Berkeley DB workload through a mount: it needs FUSE and
// Berkeley DB, and returns the test's three directories and the file of acknowledged keys.
func workloadDirs(t *testing.T) (primary, mirrorDir, mp, acked string) {
	t.Helper()
	needFUSE(t)
	needBDB(t)
	primary, mirrorDir, mp = dirs(t)
	return primary, mirrorDir, mp, filepath.Join(t.TempDir(), "acked")
}

// mirrorOnDisk is workloadDirs with the mirror on a disk of its own, which the test can kill.
func mirrorOnDisk(t *testing.T) (disk *Disk, primary, mirrorDir, mp, acked string) {
	t.Helper()
	primary, _, mp, acked = workloadDirs(t)
	disk = newDisk(t, 300<<20)
	return disk, primary, disk.sub(t, "env"), mp, acked
}

// TestFaults_MirrorDiskDiesUnderDegrade: the mirror's disk dies mid-workload; the application keeps
// running, status says DEGRADED, and a resync onto a fresh disk restores in-sync while mounted.
func TestFaults_MirrorDiskDiesUnderDegrade(t *testing.T) {
	disk, primary, mirrorDir, mp, acked := mirrorOnDisk(t)
	m := startMount(t, primary, mirrorDir, mp, "--resync-interval", "0")
	m.ExpectDegraded = true
	wait := startWorkload(t, mp, acked, "--txns", "3000", "--log-size", "65536", "--checkpoint-every", "200")
	eventually(t, time.Minute, "commits before the disk dies", func() bool { return ackedCount(t, acked) > 300 })
	disk.Shutdown(t)
	if err := wait(); err != nil {
		t.Fatalf("the workload must complete while the mirror is degraded: %v", err)
	}
	s, r := status(t, mp)
	if s.State != "degraded" || s.Degraded == nil || len(s.Degraded.Dirty) == 0 {
		t.Fatalf("status after the mirror disk died: %s", r)
	}
	if r := mirrorctl(t, "status", mp); r.Code != 3 || !strings.Contains(r.Stdout, "DEGRADED") {
		t.Errorf("human status of a degraded mirror: want DEGRADED and exit 3: %s", r)
	}
	if _, err := os.Stat(filepath.Join(primary, ".mirrorctl", "degraded.json")); err != nil {
		t.Errorf("the degraded marker is not on the primary: %v", err)
	}

	// Replace the dead disk with a fresh one at the same place, and resync while mounted.
	disk.Replace(t)
	r = mirrorctl(t, "resync", mp)
	if r.Code != 0 {
		t.Fatalf("resync onto a fresh disk: %s", r)
	}
	if s, r := status(t, mp); s.State != "serving" {
		t.Fatalf("after resync: %s", r)
	}
	workloadRun(t, mp, acked, "--txns", "200", "--start", "100000", "--log-size", "65536")
	verifyClean(t, primary, mirrorDir)
	m.Stop(t)
	verifyClean(t, primary, mirrorDir)
	if _, err := os.Stat(filepath.Join(primary, ".mirrorctl", "degraded.json")); err == nil {
		t.Error("the degraded marker is still there after resync")
	}
	workloadCheck(t, copyDir(t, mirrorDir), acked)
}

// TestFaults_MirrorDiskDiesUnderFail: with --on-mirror-error=fail the application gets the error,
// and every commit it was told about is on the mirror's disk.
func TestFaults_MirrorDiskDiesUnderFail(t *testing.T) {
	disk, primary, mirrorDir, mp, acked := mirrorOnDisk(t)
	m := startMount(t, primary, mirrorDir, mp, "--on-mirror-error", "fail")
	wait := startWorkload(t, mp, acked, "--txns", "100000", "--log-size", "65536", "--checkpoint-every", "200")
	eventually(t, time.Minute, "commits before the disk dies", func() bool { return ackedCount(t, acked) > 300 })
	disk.Shutdown(t)
	if err := wait(); err == nil {
		t.Fatal("the workload did not see the mirror's failure")
	}
	m.Kill(t)
	disk.Remount(t)
	cp := copyDir(t, mirrorDir)
	if p, r := promoteJSON(t, "--mirror", cp); r.Code != 0 || !p.OK {
		t.Fatalf("promote of the failed mirror's disk: %s", r)
	}
	workloadCheck(t, cp, acked)
}

// TestFaults_MirrorFullThenResynced: the mirror's file system fills up (ENOSPC); the mount degrades;
// once space is freed, resync brings the mirror back in sync.
func TestFaults_MirrorFullThenResynced(t *testing.T) {
	needFUSE(t)
	primary, _, mp := dirs(t)
	small := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(small, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", small, "tmpfs", 0, "size=2m"); err != nil {
		t.Fatalf("mount a small tmpfs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(small, syscall.MNT_DETACH) })
	mirrorDir := filepath.Join(small, "env")
	m := startMount(t, primary, mirrorDir, mp, "--resync-interval", "0")
	m.ExpectDegraded = true
	big := bytes.Repeat([]byte("0123456789abcdef"), 256<<10) // 4 MiB: more than the mirror holds
	writeFile(t, filepath.Join(mp, "big"), string(big))
	if s, r := status(t, mp); s.State != "degraded" || !strings.Contains(s.Degraded.Reason, "no space") {
		t.Fatalf("status after the mirror filled up: %s", r)
	}
	if r := mirrorctl(t, "resync", mp); r.Code == 0 {
		t.Fatalf("resync while the mirror is still full succeeded: %s", r)
	}
	if err := syscall.Mount("tmpfs", small, "tmpfs", syscall.MS_REMOUNT, "size=64m"); err != nil {
		t.Fatal(err)
	}
	if r := mirrorctl(t, "resync", mp); r.Code != 0 {
		t.Fatalf("resync after space was freed: %s", r)
	}
	verifyClean(t, primary, mirrorDir)
	m.Stop(t)
	verifyClean(t, primary, mirrorDir)
}

// TestFaults_KilledMountLoop kills the mount process with SIGKILL during a Berkeley DB workload, 20
// times at random moments; after each, remount and verify are clean and no acknowledged commit is
// missing from the mirror.
func TestFaults_KilledMountLoop(t *testing.T) {
	primary, mirrorDir, mp, acked := workloadDirs(t)
	rnd := rand.New(rand.NewSource(time.Now().UnixNano()))
	next := 0
	for i := 0; i < 20; i++ {
		m := startMount(t, primary, mirrorDir, mp)
		if i > 0 && !strings.Contains(m.Output(), "stopped uncleanly") {
			t.Fatalf("round %d: the remount did not notice the unclean stop:\n%s", i, m.Output())
		}
		verifyClean(t, primary, mirrorDir)
		wait := startWorkload(t, mp, acked, "--txns", "1000000", "--start", itoa(uint32(next)), "--log-size", "65536", "--checkpoint-every", "100")
		before := ackedCount(t, acked)
		eventually(t, time.Minute, "commits through the mount", func() bool { return ackedCount(t, acked) > before+20 })
		time.Sleep(time.Duration(rnd.Intn(300)) * time.Millisecond) // a random moment, not a wait for a condition
		m.KillProcess(t)
		_ = wait() // before the dead mount goes: new files must not land in the bare mount point
		lazyUnmount(mp)
		next = 1000000 * (i + 1)

		cp := copyDir(t, mirrorDir)
		if out, err := exec.Command("db_recover", "-h", cp).CombinedOutput(); err != nil {
			t.Fatalf("round %d: normal recovery of the mirror after SIGKILL: %v: %s", i, err, out)
		}
		if os.Getenv("MIRRORCTL_DEBUG_LOSS") == "1" { // tells a loss on the mirror from one on the primary
			t.Logf("round %d: %s", i, mirrorctl(t, "verify", "--primary", primary, "--mirror", mirrorDir))
			pc := copyDir(t, primary)
			out, err := exec.Command("db_recover", "-h", pc).CombinedOutput()
			t.Logf("recovery of a copy of the primary: %v %s", err, out)
			t.Logf("primary copy: %s", mirrorctl(t, "workload", "check", "--dir", pc, "--acked", acked))
		}
		workloadCheck(t, cp, acked)
	}
	m := startMount(t, primary, mirrorDir, mp)
	m.Stop(t)
	verifyClean(t, primary, mirrorDir)
}

// TestFaults_PrimaryDiskDies: the primary's disk dies mid-workload; the application sees errors, the
// mirror never receives what the primary failed to apply, and promote loses no acknowledged commit.
func TestFaults_PrimaryDiskDies(t *testing.T) {
	_, mirrorDir, mp, acked := workloadDirs(t)
	disk := newDisk(t, 300<<20)
	primary := disk.sub(t, "env")
	m := startMount(t, primary, mirrorDir, mp)
	wait := startWorkload(t, mp, acked, "--txns", "100000", "--log-size", "65536", "--checkpoint-every", "200")
	eventually(t, time.Minute, "commits before the disk dies", func() bool { return ackedCount(t, acked) > 300 })
	disk.Shutdown(t)
	if err := wait(); err == nil {
		t.Fatal("the workload did not see the primary's failure")
	}
	// A change through the mount now fails, and status says why.
	if err := os.WriteFile(filepath.Join(mp, "after-the-disk-died"), []byte("x"), 0o644); err == nil {
		t.Error("a write through the mount succeeded although the primary disk is dead")
	}
	var st struct {
		Stats struct {
			PrimaryErrors int `json:"primary_errors"`
		}
	}
	r := mustRun(t, "status", "--json", mp)
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil || st.Stats.PrimaryErrors == 0 {
		t.Errorf("status does not show the failing primary: %s", r)
	}
	m.Kill(t)
	p, r := promoteJSON(t, "--mirror", mirrorDir, "--primary", primary)
	if r.Code != 0 || !p.OK {
		t.Fatalf("promote after the primary died: %s", r)
	}
	workloadCheck(t, mirrorDir, acked)
	dbVerify(t, mirrorDir)
}

// TestFaults_MirrorDiskRepairedInPlace: the mirror's disk dies; the degraded mount lets go of it so
// that it can be unmounted while the application keeps running; a resync while it is unmounted is
// refused (it would copy onto the disk below the mount point); once the same disk is mounted again
// (xfs replays its journal), resync copies what changed and the mirror is in sync.
func TestFaults_MirrorDiskRepairedInPlace(t *testing.T) {
	disk, primary, mirrorDir, mp, acked := mirrorOnDisk(t)
	m := startMount(t, primary, mirrorDir, mp, "--resync-interval", "0")
	m.ExpectDegraded = true
	workloadRun(t, mp, acked, "--txns", "300", "--log-size", "65536", "--checkpoint-every", "100")
	disk.Shutdown(t)
	workloadRun(t, mp, acked, "--txns", "300", "--start", "100000", "--log-size", "65536")
	if s, r := status(t, mp); s.State != "degraded" {
		t.Fatalf("status after the mirror disk died: %s", r)
	}

	// The mount releases the dead file system: it can be unmounted while the mount serves.
	var uerr error
	eventually(t, 30*time.Second, "the dead mirror file system can be unmounted", func() bool {
		uerr = syscall.Unmount(disk.Dir, 0)
		return uerr == nil
	})
	if r := mirrorctl(t, "status", mp); !strings.Contains(r.Stdout, "let go of the mirror's disk") {
		t.Errorf("status does not tell the operator the disk was released: %s", r)
	}
	// While unmounted, the mirror path leads onto the file system below: resync must refuse.
	r := mirrorctl(t, "resync", mp)
	if r.Code == 0 || !strings.Contains(r.Stderr, "not mounted at") {
		t.Fatalf("resync with the mirror's disk unmounted: want a refusal naming the mount point: %s", r)
	}
	if ents, _ := os.ReadDir(disk.Dir); len(ents) != 0 {
		t.Fatalf("a refused resync wrote below the mount point: %v", ents)
	}
	workloadRun(t, mp, acked, "--txns", "100", "--start", "200000", "--log-size", "65536")

	// The same disk, mounted again: only what changed while degraded is copied.
	if out, err := exec.Command("mount", disk.Device, disk.Dir).CombinedOutput(); err != nil {
		t.Fatalf("mount the repaired disk again: %v: %s", err, out)
	}
	r = mustRun(t, "resync", "--json", mp)
	var res struct {
		Fresh bool `json:"fresh"`
		Whole bool `json:"whole"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || !res.Whole || res.Fresh {
		t.Fatalf("resync onto the repaired disk: want in sync and not fresh: %s", r)
	}
	if s, r := status(t, mp); s.State != "serving" {
		t.Fatalf("after resync: %s", r)
	}
	workloadRun(t, mp, acked, "--txns", "100", "--start", "300000", "--log-size", "65536")
	m.Stop(t)
	verifyClean(t, primary, mirrorDir)
	workloadCheck(t, copyDir(t, mirrorDir), acked)
}
