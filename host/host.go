package host

// What the host says about mounts and processes: a dead FUSE mount cannot be stat'ed, and a mount
// process that was killed leaves its lock free but its mount point behind.

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// MountedAt reports whether dir is a mount point, from /proc/self/mountinfo (stat would hang or fail on
// a dead FUSE mount), and the file system type mounted there.
func MountedAt(dir string) (bool, string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		if UnescapeMount(fields[4]) != dir {
			continue
		}
		for i, fl := range fields {
			if fl == "-" && i+1 < len(fields) {
				return true, fields[i+1]
			}
		}
		return true, ""
	}
	return false, ""
}

// UnescapeMount undoes the octal escapes (\040 for a space) of /proc/self/mountinfo: a backslash
// and exactly three octal digits; anything else is kept as it is.
func UnescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	isOctal := func(c byte) bool { return c >= '0' && c <= '7' }
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) && s[i+1] <= '3' {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
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
