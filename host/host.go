package host

// What the host says about mounts and processes: a dead FUSE mount cannot be stat'ed, and a mount
// process that was killed leaves its lock free but its mount point behind.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// MirrorctlFSType is how the kernel's mount table names a mirrorctl mount: FUSE shows a file
// system's subtype as fuse.NAME, and fusefs mounts with the name "mirrorctl".
const MirrorctlFSType = "fuse.mirrorctl"

// MountedAt reports whether dir is a mount point, and the file system type mounted there. It reads
// the kernel's mount table (/proc/thread-self/mountinfo, through github.com/moby/sys/mountinfo, which
// undoes its octal escapes such as \040 for a space) and never stats dir: a stat fails with ENOTCONN,
// or hangs, on a dead FUSE mount. Where several mounts are stacked on dir, the type is the first's.
func MountedAt(dir string) (bool, string) {
	return first(mountinfo.GetMounts(mountinfo.SingleEntryFilter(dir)))
}

// first says whether a lookup in the mount table found an entry, and its file system type; a table
// that cannot be read finds nothing.
func first(ms []*mountinfo.Info, err error) (bool, string) {
	if err != nil || len(ms) == 0 {
		return false, ""
	}
	return true, ms[0].FSType
}

// ProcessAlive reports whether pid names a running, non-zombie process.
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' && i+2 < len(b) {
			return b[i+2] != 'Z'
		}
	}
	return true
}

// BootID identifies the running kernel's boot: a record written on another boot saw a machine crash,
// not only a dead process.
func BootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// MountPointOf returns the mount point of the file system holding p (which must exist): the highest
// ancestor of p on the same device. Unlike MountedAt it stats p and its ancestors, so p must not be
// on a FUSE mount that may be dead.
func MountPointOf(p string) (string, error) {
	p = filepath.Clean(p)
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return "", err
	}
	for p != "/" {
		parent := filepath.Dir(p)
		var pst unix.Stat_t
		if err := unix.Stat(parent, &pst); err != nil {
			return "", err
		}
		if pst.Dev != st.Dev {
			return p, nil
		}
		p = parent
	}
	return "/", nil
}
