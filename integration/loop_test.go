package integration

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mirrorctl/mirrorctl/internal/testenv"
	"github.com/mirrorctl/mirrorctl/loopdisk"
)

// Disk is a small xfs file system on a loop device, mounted at Dir: a disk that a test can kill
// (xfs_io shutdown makes every later access fail with EIO) or fill (ENOSPC). Package loopdisk
// makes it, as it makes the drill's disks.
type Disk struct {
	*loopdisk.Disk
}

// newDisk makes and mounts a loop-backed xfs file system of size bytes (xfs needs at least 300 MiB).
func newDisk(t *testing.T, size int64) *Disk {
	t.Helper()
	needFUSE(t)
	needTool(t, "losetup", "mkfs.xfs", "xfs_io")
	base := t.TempDir()
	dir := filepath.Join(base, "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := loopdisk.New(dir, filepath.Join(base, "disk.img"), size)
	if errors.Is(err, loopdisk.ErrNoLoopDevice) {
		testenv.SkipOrFail(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Remove(); err != nil {
			t.Error(err)
		}
	})
	return &Disk{d}
}

// Shutdown kills the file system as a dead disk would.
func (d *Disk) Shutdown(t *testing.T) {
	t.Helper()
	if err := d.Disk.Shutdown(); err != nil {
		t.Fatal(err)
	}
}

// sub makes a directory on the disk.
func (d *Disk) sub(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(d.Dir, name)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatalf("mkdir on disk: %v", err)
	}
	return p
}

// Replace unmounts a dead file system and puts a fresh, empty one at the same place: a new disk.
func (d *Disk) Replace(t *testing.T) {
	t.Helper()
	if err := d.Disk.Replace(); err != nil {
		t.Fatal(err)
	}
}

// Remount unmounts a dead file system and mounts its device again (xfs replays its journal): what
// was durable before the failure is there.
func (d *Disk) Remount(t *testing.T) {
	t.Helper()
	if err := d.Disk.Remount(); err != nil {
		t.Fatal(err)
	}
}
