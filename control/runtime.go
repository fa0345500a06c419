package control

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/mirrorctl/mirrorctl/host"
	"github.com/moby/sys/mountinfo"
)

// rootDir is where mounts run by root keep their sockets: a well-known place every user looks in.
const rootDir = "/run/mirrorctl"

// Dir is the runtime directory of this process's user, where its mounts keep their sockets.
func Dir() string { return dirOf(os.Geteuid(), os.Getenv("XDG_RUNTIME_DIR")) }

func dirOf(uid int, xdg string) string {
	if uid == 0 {
		return rootDir
	}
	if xdg != "" {
		return filepath.Join(xdg, "mirrorctl")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("mirrorctl-%d", uid))
}

// baseName is the name, without extension, of a mount point's files in a runtime directory.
func baseName(mountPoint string) string {
	sum := sha256.Sum256([]byte(mountPoint))
	return hex.EncodeToString(sum[:8])
}

// place is a runtime directory and the user who must own it.
type place struct {
	dir string
	uid int
}

// places lists the runtime directories a mount of mountPoint may have put its socket in: the
// caller's own, root's, and those of the user the mount table names as the mount's owner.
func places(mountPoint string) []place {
	ps := []place{{Dir(), os.Geteuid()}, {rootDir, 0}}
	if uid, ok := mountOwner(mountPoint); ok && uid != 0 {
		ps = append(ps, place{filepath.Join("/run/user", strconv.Itoa(uid), "mirrorctl"), uid},
			place{filepath.Join(os.TempDir(), fmt.Sprintf("mirrorctl-%d", uid)), uid})
	}
	seen := map[string]bool{}
	out := ps[:0]
	for _, p := range ps {
		if !seen[p.dir] {
			seen[p.dir] = true
			out = append(out, p)
		}
	}
	return out
}

// mountOwner reads the user_id= option the kernel records for a mirrorctl mount at mountPoint:
// the user its mount process runs as. False when no mirrorctl mount is listed there.
func mountOwner(mountPoint string) (int, bool) {
	ms, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(mountPoint))
	if err != nil || len(ms) == 0 || ms[0].FSType != host.MirrorctlFSType {
		return 0, false
	}
	for _, opt := range strings.Split(ms[0].VFSOptions, ",") {
		if v, ok := strings.CutPrefix(opt, "user_id="); ok {
			uid, err := strconv.Atoi(v)
			return uid, err == nil
		}
	}
	return 0, false
}

// trusted reports whether dir is a real directory owned by uid that nobody else can write to.
func trusted(dir string, uid int) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case !st.IsDir():
		return fmt.Errorf("runtime directory %s is not a directory: remove it", dir)
	case !ok || int(sys.Uid) != uid:
		return fmt.Errorf("runtime directory %s belongs to uid %d, not %d: remove it", dir, sys.Uid, uid)
	case st.Mode().Perm()&0o022 != 0:
		return fmt.Errorf("runtime directory %s is writable by others (%v): remove it", dir, st.Mode().Perm())
	}
	return nil
}

// Socket is where a mount's control socket was found.
type Socket struct {
	Path  string
	Owner int // the user the mount process runs as
}

// info is the file beside the socket that says what the mount serves.
func (s Socket) info() string { return strings.TrimSuffix(s.Path, ".sock") + ".json" }

// Locate finds the control socket of the mount at mountPoint (an absolute path with symlinks
// resolved, as the mount process was given it); false when no trusted place holds one.
func Locate(mountPoint string) (Socket, bool) {
	name := baseName(mountPoint) + ".sock"
	for _, p := range places(mountPoint) {
		if trusted(p.dir, p.uid) != nil {
			continue
		}
		path := filepath.Join(p.dir, name)
		st, err := os.Lstat(path)
		if err != nil || st.Mode()&os.ModeSocket == 0 {
			continue
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); !ok || int(sys.Uid) != p.uid {
			continue
		}
		return Socket{Path: path, Owner: p.uid}, true
	}
	return Socket{}, false
}
