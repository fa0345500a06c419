package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mirrorctl/mirrorctl/host"
)

// scratchDisk is a small xfs file system on a loop device: a disk the drill can kill for real.
type scratchDisk struct {
	Dir, image, device string
}

// canMakeDisks reports whether loop-backed xfs disks can be made here, and if not, why.
func canMakeDisks() (bool, string) {
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

func newScratchDisk(base, name string, size int64) (*scratchDisk, error) {
	d := &scratchDisk{Dir: filepath.Join(base, name), image: filepath.Join(base, name+".img")}
	if err := os.Mkdir(d.Dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(d.image)
	if err != nil {
		return nil, err
	}
	err = f.Truncate(size)
	f.Close()
	if err != nil {
		return nil, err
	}
	out, err := exec.Command("losetup", "--find", "--show", d.image).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("losetup: %v: %s", err, strings.TrimSpace(string(out)))
	}
	d.device = strings.TrimSpace(string(out))
	if out, err := exec.Command("mkfs.xfs", "-q", "-f", d.device).CombinedOutput(); err != nil {
		d.Remove()
		return nil, fmt.Errorf("mkfs.xfs: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if out, err := exec.Command("mount", d.device, d.Dir).CombinedOutput(); err != nil {
		d.Remove()
		return nil, fmt.Errorf("mount %s: %v: %s", d.device, err, strings.TrimSpace(string(out)))
	}
	return d, nil
}

// Shutdown kills the file system like a dead disk: every later access fails with EIO.
func (d *scratchDisk) Shutdown() error {
	if out, err := exec.Command("xfs_io", "-x", "-c", "shutdown", d.Dir).CombinedOutput(); err != nil {
		return fmt.Errorf("xfs_io shutdown: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Remove unmounts the file system and frees the loop device and its image.
func (d *scratchDisk) Remove() {
	for i := 0; i < 20; i++ {
		if ok, _ := host.MountedAt(d.Dir); !ok {
			break
		}
		if syscall.Unmount(d.Dir, 0) != nil {
			_ = syscall.Unmount(d.Dir, syscall.MNT_DETACH)
		}
	}
	if d.device != "" {
		_ = exec.Command("losetup", "-d", d.device).Run()
		d.device = ""
	}
	os.Remove(d.image)
}
