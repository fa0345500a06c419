package integration

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMount_KilledMidWriteIsRepairedOnRemount kills the mount process with SIGKILL while a writer runs
// and requires the next mount to notice the unclean stop, compare by content and leave the mirror equal.
func TestMount_KilledMidWriteIsRepairedOnRemount(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	m := startMount(t, primary, mirrorDir, mp)
	// One descriptor, opened once, written continuously: when the mount dies every write fails, and
	// nothing can open a new file in the bare mount point afterwards.
	f, err := os.OpenFile(filepath.Join(mp, "big"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		buf := make([]byte, 64<<10)
		rnd := rand.New(rand.NewSource(2))
		for i := 0; ; i++ {
			rnd.Read(buf)
			if _, err := f.WriteAt(buf, int64(i%64)*int64(len(buf))); err != nil {
				return
			}
		}
	}()
	eventually(t, 30*time.Second, "the writer to write through the mount", func() bool {
		st, err := os.Stat(filepath.Join(primary, "big"))
		return err == nil && st.Size() >= 1<<20
	})
	// Only once the writer has stopped is the dead mount removed.
	m.KillProcess(t)
	<-writerDone
	f.Close()
	lazyUnmount(mp)

	var rec struct{ State string }
	b, err := os.ReadFile(filepath.Join(mirrorDir, ".mirrorctl", "mirror.json"))
	if err != nil || json.Unmarshal(b, &rec) != nil || rec.State != "serving" {
		t.Fatalf("after SIGKILL the mirror's record should still say serving (unclean): %s %v", b, err)
	}
	r := mirrorctl(t, "status", "--mirror", mirrorDir, "--primary", primary)
	if !strings.Contains(r.Stdout, "without a clean stop") {
		t.Errorf("status after a killed mount does not say so: %s", r)
	}
	m2 := startMount(t, primary, mirrorDir, mp)
	if out := m2.Output(); !strings.Contains(out, "stopped uncleanly") || !strings.Contains(out, "by content") {
		t.Errorf("remount after SIGKILL did not say it repaired by content:\n%s", out)
	}
	verifyClean(t, primary, mirrorDir)
	m2.Stop(t)
	verifyClean(t, primary, mirrorDir)
}

// TestMount_WritesBehindTheMountsBackAreFound changes the primary directly between two mounts.
func TestMount_WritesBehindTheMountsBackAreFound(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	m := startMount(t, primary, mirrorDir, mp)
	data := bytes.Repeat([]byte("abcdefgh"), 100000)
	writeFile(t, filepath.Join(mp, "db"), string(data))
	m.Stop(t)
	verifyClean(t, primary, mirrorDir)

	// Behind the mount's back: same size, one byte changed.
	f, err := os.OpenFile(filepath.Join(primary, "db"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("Z"), 500000); err != nil {
		t.Fatal(err)
	}
	f.Close()
	writeFile(t, filepath.Join(primary, "new"), "made directly")

	r := mirrorctl(t, "verify", "--primary", primary, "--mirror", mirrorDir)
	if r.Code != 1 || !strings.Contains(r.Stdout, "db: content differs") || !strings.Contains(r.Stdout, "new: missing on the mirror") {
		t.Fatalf("verify must report the changes made behind the mount's back: %s", r)
	}
	m2 := startMount(t, primary, mirrorDir, mp)
	if !strings.Contains(m2.Output(), "changed on the primary outside mirrorctl") {
		t.Errorf("mount did not warn about changes made outside it:\n%s", m2.Output())
	}
	m2.Stop(t)
	verifyClean(t, primary, mirrorDir)
}

// TestMount_WritesReachTheMirrorDespitePassthrough opens a mirrored file read-only and then
// read-write (the kernel refuses to mix passthrough and cached opens of one inode), writes through
// the read-write descriptor and through a shared mapping, and reads the mirror's file directly while
// the mount still serves. An excluded region file is mapped and written through the mount too.
func TestMount_WritesReachTheMirrorDespitePassthrough(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	m := startMount(t, primary, mirrorDir, mp)
	p := filepath.Join(mp, "accounts.db")
	writeFile(t, p, strings.Repeat("\x00", 1<<16))
	ro, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	rw, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("read-write open while a read-only descriptor is open: %v", err)
	}
	defer rw.Close()
	payload := make([]byte, 4096)
	rand.New(rand.NewSource(1)).Read(payload)
	if _, err := rw.WriteAt(payload, 8192); err != nil {
		t.Fatal(err)
	}
	writeShared(t, rw, 1<<16, 40000, "written through a shared mapping")
	got, err := os.ReadFile(filepath.Join(mirrorDir, "accounts.db"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 1<<16 || !bytes.Equal(got[8192:8192+4096], payload) {
		t.Error("a write through the mount did not reach the mirror while mounted")
	}
	if !bytes.Contains(got, []byte("written through a shared mapping")) {
		t.Error("a write through a shared mapping did not reach the mirror")
	}
	// Reads see the data too, through the read-only descriptor.
	rb := make([]byte, 4096)
	if _, err := ro.ReadAt(rb, 8192); err != nil || !bytes.Equal(rb, payload) {
		t.Errorf("read through the read-only descriptor: %v", err)
	}

	// A region file: served from the primary, mapped and written, never mirrored.
	region := filepath.Join(mp, "__db.001")
	writeFile(t, region, strings.Repeat("\x00", 8192))
	rf, err := os.OpenFile(region, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	writeShared(t, rf, 8192, 0, "region")
	rf.Close()
	if b, _ := os.ReadFile(filepath.Join(primary, "__db.001")); !bytes.HasPrefix(b, []byte("region")) {
		t.Error("the region file write did not reach the primary")
	}
	if _, err := os.Stat(filepath.Join(mirrorDir, "__db.001")); err == nil {
		t.Error("the region file reached the mirror")
	}
	ro.Close()
	rw.Close()
	m.Stop(t)
	verifyClean(t, primary, mirrorDir)
}

// writeShared writes data at off through a shared mapping of the first size bytes of f, msyncs and
// unmaps it: a write the daemon sees only as the kernel's writeback of the mapping.
func writeShared(t *testing.T, f *os.File, size, off int, data string) {
	t.Helper()
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		t.Fatalf("shared mmap of %s: %v", f.Name(), err)
	}
	copy(mem[off:], data)
	if err := msync(mem); err != nil {
		t.Fatalf("msync of %s: %v", f.Name(), err)
	}
	if err := syscall.Munmap(mem); err != nil {
		t.Fatalf("munmap of %s: %v", f.Name(), err)
	}
}

func msync(b []byte) error {
	_, _, e := syscall.Syscall(syscall.SYS_MSYNC, uintptr(unsafePointer(b)), uintptr(len(b)), syscall.MS_SYNC)
	if e != 0 {
		return e
	}
	return nil
}

// TestMount_FsyncReachesBothDisks checks that fsync through the mount syncs both sides and that a
// created and renamed file is on the mirror once its directory is fsynced.
func TestMount_FsyncReachesBothDisks(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	m := startMount(t, primary, mirrorDir, mp)
	type fsyncs struct {
		Stats struct {
			PrimaryFsync struct{ Count int } `json:"primary_fsync"`
			MirrorFsync  struct{ Count int } `json:"mirror_fsync"`
		}
	}
	status := func() fsyncs {
		r := mustRun(t, "status", "--json", mp)
		var s fsyncs
		if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
			t.Fatalf("status --json: %s", r)
		}
		return s
	}
	before := status()
	f, err := os.Create(filepath.Join(mp, "tmpname"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("durable"); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Rename(filepath.Join(mp, "tmpname"), filepath.Join(mp, "final")); err != nil {
		t.Fatal(err)
	}
	d, err := os.Open(mp)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(); err != nil {
		t.Fatal(err)
	}
	d.Close()
	after := status()
	if after.Stats.PrimaryFsync.Count <= before.Stats.PrimaryFsync.Count || after.Stats.MirrorFsync.Count <= before.Stats.MirrorFsync.Count {
		t.Errorf("fsync through the mount did not sync both sides: before %+v after %+v", before, after)
	}
	if b, err := os.ReadFile(filepath.Join(mirrorDir, "final")); err != nil || string(b) != "durable" {
		t.Errorf("the renamed file is not on the mirror: %q %v", b, err)
	}
	m.Stop(t)
}
