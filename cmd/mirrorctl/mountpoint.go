package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// mountedAt reports whether dir is a mount point, from /proc/self/mountinfo (stat would hang or fail on
// a dead FUSE mount), and the file system type mounted there.
func mountedAt(dir string) (bool, string) {
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
		if unescapeMount(fields[4]) != dir {
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

// unescapeMount undoes the octal escapes (\040 for a space) of /proc/self/mountinfo: a backslash
// and exactly three octal digits; anything else is kept as it is.
func unescapeMount(s string) string {
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

// checkMountPoint refuses a mount point that is missing, not an empty directory, already a mount
// point, or inside the primary or the mirror.
func checkMountPoint(mp, primary, mirrorDir string) (string, error) {
	abs, err := filepath.Abs(mp)
	if err != nil {
		return "", err
	}
	if ok, fstype := mountedAt(abs); ok {
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
