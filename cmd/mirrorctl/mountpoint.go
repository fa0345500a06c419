package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mirrorctl/mirrorctl/host"
)

// checkMountPoint refuses a mount point that is missing, not an empty directory, already a mount
// point, or inside the primary or the mirror.
func checkMountPoint(mp, primary, mirrorDir string) (string, error) {
	abs, err := filepath.Abs(mp)
	if err != nil {
		return "", err
	}
	if ok, fstype := host.MountedAt(abs); ok {
		if strings.HasPrefix(fstype, "fuse") {
			return "", fmt.Errorf("mount point %s is already a mount point (%s): if a mirrorctl mount was killed there, run \"mirrorctl unmount %s\" first", abs, fstype, abs)
		}
		return "", fmt.Errorf("mount point %s is already a mount point (%s): choose an empty directory", abs, fstype)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("mount point %s does not exist: create an empty directory for it (mkdir -p %s)", abs, abs)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("mount point %s: %v", abs, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("mount point %s is not a directory: give an empty directory", abs)
	}
	for _, d := range []string{primary, mirrorDir} {
		if real == d || strings.HasPrefix(real, d+"/") {
			return "", fmt.Errorf("mount point %s is inside %s: put it outside the primary and the mirror", abs, d)
		}
	}
	if strings.HasPrefix(primary, real+"/") || strings.HasPrefix(mirrorDir, real+"/") {
		return "", fmt.Errorf("mount point %s contains the primary or the mirror: choose an empty directory elsewhere", abs)
	}
	ents, err := os.ReadDir(real)
	if err != nil {
		return "", fmt.Errorf("mount point %s: %v", abs, err)
	}
	if len(ents) > 0 {
		return "", fmt.Errorf("mount point %s is not empty (%d entries): give an empty directory", abs, len(ents))
	}
	return real, nil
}

// checkFuse makes sure /dev/fuse can be opened.
func checkFuse() error {
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		var errno syscall.Errno
		hint := "install fuse3 (apt-get install fuse3) and load the fuse module"
		if errors.As(err, &errno) && errno == syscall.EACCES {
			hint = "run as root or give this user access to /dev/fuse"
		}
		return fmt.Errorf("cannot open /dev/fuse (%v): %s", errors.Unwrap(err), hint)
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("cannot stat /dev/fuse: %v", err)
	}
	// The FUSE device is the character device 10:229.
	if st.Mode&syscall.S_IFMT != syscall.S_IFCHR || st.Rdev != 10<<8|229 {
		return fmt.Errorf("/dev/fuse is not the FUSE device (mode %o, device %d:%d): recreate it with \"mknod /dev/fuse c 10 229\"", st.Mode, st.Rdev>>8, st.Rdev&0xff)
	}
	return nil
}

// resolveMountPoint makes a mount point given on the command line absolute with its symlinks
// resolved, as mount resolved it before serving (its control socket and the mount table name the
// real path), without ever stat'ing the mount point itself: a dead FUSE mount answers ENOTCONN, or
// hangs. The parent is resolved; a last name that the mount table lists is kept as it is; one that
// is a symlink is followed by hand, one link at a time.
func resolveMountPoint(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	for range 40 { // the kernel's limit on links followed in one lookup
		parent, err := filepath.EvalSymlinks(filepath.Dir(abs))
		if err != nil {
			return abs, nil // a missing parent: the caller says it is not a mount point
		}
		cand := filepath.Join(parent, filepath.Base(abs))
		if ok, _ := host.MountedAt(cand); ok {
			return cand, nil
		}
		fi, err := os.Lstat(cand)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			return cand, nil
		}
		target, err := os.Readlink(cand)
		if err != nil {
			return cand, nil
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(parent, target)
		}
		abs = filepath.Clean(target)
	}
	return "", fmt.Errorf("mount point %s: too many levels of symbolic links: give the real path", p)
}

// mountPointMissing is the usage error for a MOUNTPOINT argument that does not exist (exit 2: the
// command line is wrong, nothing was asked of a mount), or nil. Only a path that nothing is mounted on
// is stat'ed: a dead FUSE mount may hang. orElse names what else the command accepts, if anything.
func mountPointMissing(mp, orElse string) error {
	if mounted, _ := host.MountedAt(mp); mounted {
		return nil
	}
	if _, err := os.Lstat(mp); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if orElse != "" {
		orElse = ", " + orElse
	}
	return usageError("mount point %s does not exist: give the mount point of a running mount%s", mp, orElse)
}
