package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mirrorctl/mirrorctl/internal/testenv"
)

// Disk is a small xfs file system on a loop device, mounted at Dir: a disk that a test can kill
// (xfs_io shutdown makes every later access fail with EIO) or fill (ENOSPC).
type Disk struct {
	Dir, Image, Device string
}

// newDisk makes and mounts a loop-backed xfs file system of size bytes (xfs needs at least 300 MiB).
func newDisk(t *testing.T, size int64) *Disk {
	t.Helper()
	needFUSE(t)
	needTool(t, "losetup", "mkfs.xfs", "xfs_io")
	base := t.TempDir()
	d := &Disk{Dir: filepath.Join(base, "mnt"), Image: filepath.Join(base, "disk.img")}
	if err := os.Mkdir(d.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(d.Image)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command("losetup", "--find", "--show", d.Image).CombinedOutput()
	if err != nil {
		testenv.SkipOrFail(t, "no loop device: losetup: %v: %s", err, out)
	}
	d.Device = strings.TrimSpace(string(out))
	t.Cleanup(func() { d.remove(t) })
	if out, err := exec.Command("mkfs.xfs", "-q", "-f", d.Device).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs: %v: %s", err, out)
	}
	if out, err := exec.Command("mount", d.Device, d.Dir).CombinedOutput(); err != nil {
		t.Fatalf("mount %s: %v: %s", d.Device, err, out)
	}
	return d
}

// Shutdown kills the file system as a dead disk would.
func (d *Disk) Shutdown(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("xfs_io", "-x", "-c", "shutdown", d.Dir).CombinedOutput(); err != nil {
		t.Fatalf("xfs_io shutdown %s: %v: %s", d.Dir, err, out)
	}
}

func (d *Disk) remove(t *testing.T) {
	for i := 0; i < 50 && isMountPoint(d.Dir); i++ {
		if err := syscall.Unmount(d.Dir, 0); err != nil {
			_ = syscall.Unmount(d.Dir, syscall.MNT_DETACH)
		}
	}
	if d.Device != "" {
		if out, err := exec.Command("losetup", "-d", d.Device).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", d.Device, err, out)
		}
	}
}

// sub makes a directory on the disk.
func (d *Disk) sub(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(d.Dir, name)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(fmt.Errorf("mkdir on disk: %w", err))
	}
	return p
}

// Replace unmounts a dead file system and puts a fresh, empty one at the same place: a new disk.
func (d *Disk) Replace(t *testing.T) {
	t.Helper()
	_ = syscall.Unmount(d.Dir, syscall.MNT_DETACH)
	if d.Device != "" {
		_ = exec.Command("losetup", "-d", d.Device).Run()
	}
	st, err := os.Stat(d.Image)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(d.Image)
	f, err := os.Create(d.Image)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(st.Size()); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command("losetup", "--find", "--show", d.Image).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v: %s", err, out)
	}
	d.Device = strings.TrimSpace(string(out))
	if out, err := exec.Command("mkfs.xfs", "-q", "-f", d.Device).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs: %v: %s", err, out)
	}
	if out, err := exec.Command("mount", d.Device, d.Dir).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v: %s", err, out)
	}
}

// Remount unmounts a dead file system and mounts its device again (xfs replays its journal): what
// was durable before the failure is there.
func (d *Disk) Remount(t *testing.T) {
	t.Helper()
	if err := syscall.Unmount(d.Dir, 0); err != nil {
		t.Fatalf("unmount the dead file system: %v", err)
	}
	if out, err := exec.Command("mount", d.Device, d.Dir).CombinedOutput(); err != nil {
		t.Fatalf("mount again: %v: %s", err, out)
	}
}
