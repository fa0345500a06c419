package loopdisk

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mirrorctl/mirrorctl/host"
)

// TestDisk_ShutdownFailsWritesAndRemoveLeavesNothing checks the package's invariants on a real
// loop device: a new disk is mounted; after Shutdown a write fails with EIO; after Remove there is
// no mount and no loop device left.
func TestDisk_ShutdownFailsWritesAndRemoveLeavesNothing(t *testing.T) {
	if ok, why := Available(); !ok {
		if os.Getenv("MIRRORCTL_REQUIRE_ALL") == "1" {
			t.Fatalf("cannot run (MIRRORCTL_REQUIRE_ALL=1): %s", why)
		}
		t.Skip(why)
	}
	base := t.TempDir()
	dir, image := filepath.Join(base, "mnt"), filepath.Join(base, "disk.img")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := New(dir, image, 300<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	if ok, fstype := host.MountedAt(dir); !ok || fstype != "xfs" {
		t.Fatalf("new disk: mounted=%v type %q, want xfs", ok, fstype)
	}
	if err := d.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); !errors.Is(err, syscall.EIO) {
		t.Fatalf("a write after Shutdown: %v, want EIO", err)
	}
	dev := d.Device
	if err := d.Remove(); err != nil {
		t.Fatal(err)
	}
	if ok, _ := host.MountedAt(dir); ok {
		t.Fatal("still mounted after Remove")
	}
	out, _ := exec.Command("losetup", "-a").CombinedOutput()
	if strings.Contains(string(out), image) {
		t.Fatalf("loop device %s still attached after Remove:\n%s", dev, out)
	}
}
