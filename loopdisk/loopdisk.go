package loopdisk

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/mirrorctl/mirrorctl/host"
)

// ErrNoLoopDevice is a losetup that could not attach the image (no free loop device, none at all).
var ErrNoLoopDevice = errors.New("no loop device")

// Disk is a small xfs file system on a loop device, mounted at Dir.
type Disk struct {
	Dir, Image, Device string
}

// Available reports whether loop-backed xfs disks can be made here, and if not, why.
func Available() (bool, string) {
	if os.Geteuid() != 0 {
		return false, "not root"
	}
	for _, tool := range []string{"losetup", "mkfs.xfs", "xfs_io", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return false, tool + " is not installed (apt-get install xfsprogs util-linux)"
		}
	}
	return true, ""
}

// New makes an image of size bytes at image, and an xfs file system on it mounted at dir, which
// must exist (xfs needs at least 300 MiB).
func New(dir, image string, size int64) (*Disk, error) {
	d := &Disk{Dir: dir, Image: image}
	if err := d.format(size); err != nil {
		_ = d.Remove()
		return nil, err
	}
	return d, nil
}

// format makes a fresh image, attaches it, makes the file system and mounts it.
func (d *Disk) format(size int64) error {
	f, err := os.Create(d.Image)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	f.Close()
	if err != nil {
		return err
	}
	out, err := exec.Command("losetup", "--find", "--show", d.Image).CombinedOutput()
	if err != nil {
		return fmt.Errorf("losetup %s: %w: %v: %s", d.Image, ErrNoLoopDevice, err, strings.TrimSpace(string(out)))
	}
	d.Device = strings.TrimSpace(string(out))
	if out, err := exec.Command("mkfs.xfs", "-q", "-f", d.Device).CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.xfs %s: %v: %s", d.Device, err, strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command("mount", d.Device, d.Dir).CombinedOutput(); err != nil {
		return fmt.Errorf("mount %s: %v: %s", d.Device, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Shutdown kills the file system like a dead disk: every later access fails with EIO.
func (d *Disk) Shutdown() error {
	if out, err := exec.Command("xfs_io", "-x", "-c", "shutdown", d.Dir).CombinedOutput(); err != nil {
		return fmt.Errorf("xfs_io shutdown %s: %v: %s", d.Dir, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Remount unmounts a dead file system and mounts its device again (xfs replays its journal): what
// was durable before the failure is there.
func (d *Disk) Remount() error {
	if err := syscall.Unmount(d.Dir, 0); err != nil {
		return fmt.Errorf("unmount the dead file system %s: %w", d.Dir, err)
	}
	if out, err := exec.Command("mount", d.Device, d.Dir).CombinedOutput(); err != nil {
		return fmt.Errorf("mount %s again: %v: %s", d.Device, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Replace unmounts a dead file system and puts a fresh, empty one of the same size at the same
// place: a new disk.
func (d *Disk) Replace() error {
	st, err := os.Stat(d.Image)
	if err != nil {
		return err
	}
	_ = d.detach() // a device still busy after the lazy unmount is freed when it is released
	os.Remove(d.Image)
	return d.format(st.Size())
}

// Remove unmounts the file system, frees the loop device and removes the image.
func (d *Disk) Remove() error {
	err := d.detach()
	os.Remove(d.Image)
	return err
}

// detach unmounts the file system (lazily if it must) and frees the loop device.
func (d *Disk) detach() error {
	for i := 0; i < 50; i++ {
		if ok, _ := host.MountedAt(d.Dir); !ok {
			break
		}
		if syscall.Unmount(d.Dir, 0) != nil {
			_ = syscall.Unmount(d.Dir, syscall.MNT_DETACH)
		}
	}
	if d.Device == "" {
		return nil
	}
	dev := d.Device
	d.Device = ""
	if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
		return fmt.Errorf("losetup -d %s: %v: %s", dev, err, strings.TrimSpace(string(out)))
	}
	return nil
}
