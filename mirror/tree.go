package mirror

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// tree is one side of the mirror (the primary or the mirror directory). Every operation resolves its
// path beneath the tree's root with openat2(RESOLVE_BENEATH), so neither a hostile relative path nor a
// symbolic link inside the tree can make mirrorctl touch a file outside it.
type tree struct {
	root string // absolute path, for messages
	fd   int    // O_PATH descriptor of the root; owned by the tree, closed by close
}

func openTree(root string) (*tree, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Open(abs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", abs, err)
	}
	return &tree{root: abs, fd: fd}, nil
}

func (t *tree) close() error {
	if t == nil || t.fd < 0 { // none, or a released tree (see ReleaseTarget)
		return nil
	}
	return unix.Close(t.fd)
}

// abs is for messages and for walking with the standard library; never for writing.
func (t *tree) abs(rel string) string { return filepath.Join(t.root, filepath.FromSlash(rel)) }

// cleanRel checks a slash-separated relative path: no absolute paths, no "..", no empty names.
func cleanRel(rel string) (string, error) {
	if rel == "" || rel == "." {
		return ".", nil
	}
	c := path.Clean(rel)
	if path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("path %q leaves the tree: %w", rel, unix.EXDEV)
	}
	return c, nil
}

const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS

// maxResolve is the longest relative path handed to one openat2. The kernel refuses a path of
// PATH_MAX (4096) bytes or more with ENAMETOOLONG, but a tree has no depth limit: an application
// inside the mount works relative to its current directory, so a path from the root can be far
// longer. Longer paths are resolved in steps of at most this many bytes, each from the directory the
// step before opened.
const maxResolve = 2048

// openat2 is openat2(2) beneath dirfd, retried on EINTR and EAGAIN (which openat2 may return when a
// rename races with the resolution).
func openat2(dirfd int, rel string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat2(dirfd, rel, &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Mode: uint64(mode & 07777), Resolve: resolveFlags})
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		return fd, err
	}
}

// descend resolves the leading directories of a clean relative path c, in steps of at most
// maxResolve bytes, until what is left is short enough for one call. It returns the directory to
// resolve the rest from (the root itself when c is short: then owned is false) and the rest.
func (t *tree) descend(c string) (dirfd int, rest string, owned bool, err error) {
	dirfd, rest = t.fd, c
	for len(rest) >= maxResolve {
		cut := strings.LastIndexByte(rest[:maxResolve], '/')
		if cut <= 0 { // a name of maxResolve bytes: longer than any file system's NAME_MAX
			err = unix.ENAMETOOLONG
		} else {
			var next int
			next, err = openat2(dirfd, rest[:cut], unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
			if err == nil {
				if owned {
					unix.Close(dirfd)
				}
				dirfd, rest, owned = next, rest[cut+1:], true
				continue
			}
		}
		if owned {
			unix.Close(dirfd)
		}
		return -1, "", false, err
	}
	return dirfd, rest, owned, nil
}

// open opens rel beneath the root, however deep it lies.
func (t *tree) open(rel string, flags int, mode uint32) (int, error) {
	c, err := cleanRel(rel)
	if err != nil {
		return -1, err
	}
	if flags&unix.O_CREAT == 0 && flags&unix.O_TMPFILE != unix.O_TMPFILE {
		mode = 0 // open(2) ignores it; openat2 refuses it with EINVAL
	}
	dirfd, rest, owned, err := t.descend(c)
	if err != nil {
		return -1, err
	}
	if owned {
		defer unix.Close(dirfd)
	}
	return openat2(dirfd, rest, flags, mode)
}

// parent returns a descriptor of the directory holding rel, and rel's last name. For a name in the
// root that is the root's own descriptor (owned false: not to be closed), which saves an open and a
// close on every change to the files beside the root, where an engine keeps its own.
func (t *tree) parent(rel string) (fd int, name string, owned bool, err error) {
	c, err := cleanRel(rel)
	if err != nil {
		return -1, "", false, err
	}
	if c == "." {
		return -1, "", false, fmt.Errorf("the root has no parent: %w", unix.EINVAL)
	}
	dir, name := path.Split(c)
	if dir == "" {
		return t.fd, name, false, nil
	}
	fd, err = t.open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, "", false, err
	}
	return fd, name, true, nil
}

// procPath names the entry name inside the directory open at dirfd without following a symlink at
// any earlier component; used for the calls that have no *at form (xattrs).
func procPath(dirfd int, name string) string {
	return "/proc/self/fd/" + strconv.Itoa(dirfd) + "/" + name
}

// at runs fn with the parent directory of rel and rel's last name.
func (t *tree) at(rel string, fn func(dirfd int, name string) error) error {
	dirfd, name, owned, err := t.parent(rel)
	if err != nil {
		return err
	}
	if owned {
		defer unix.Close(dirfd)
	}
	return fn(dirfd, name)
}

func (t *tree) mkdir(rel string, mode uint32) error {
	return t.at(rel, func(d int, n string) error { return unix.Mkdirat(d, n, mode) })
}

func (t *tree) mknod(rel string, mode uint32, dev int) error {
	return t.at(rel, func(d int, n string) error { return unix.Mknodat(d, n, mode, dev) })
}

func (t *tree) symlink(target, rel string) error {
	return t.at(rel, func(d int, n string) error { return unix.Symlinkat(target, d, n) })
}

func (t *tree) unlink(rel string) error {
	return t.at(rel, func(d int, n string) error { return unix.Unlinkat(d, n, 0) })
}

func (t *tree) rmdir(rel string) error {
	return t.at(rel, func(d int, n string) error { return unix.Unlinkat(d, n, unix.AT_REMOVEDIR) })
}

func (t *tree) rename(oldRel, newRel string, flags uint) error {
	return t.at(oldRel, func(od int, on string) error {
		return t.at(newRel, func(nd int, nn string) error {
			return unix.Renameat2(od, on, nd, nn, flags)
		})
	})
}

func (t *tree) link(oldRel, newRel string) error {
	return t.at(oldRel, func(od int, on string) error {
		return t.at(newRel, func(nd int, nn string) error { return unix.Linkat(od, on, nd, nn, 0) })
	})
}

// entry runs fn with the parent directory of rel and rel's last name, or, for the root itself, with
// the root's descriptor, an empty name and AT_EMPTY_PATH as the flag that makes an *at call act on
// the descriptor (the root has no parent to name it from).
func (t *tree) entry(rel string, fn func(dirfd int, name string, emptyPath int) error) error {
	c, err := cleanRel(rel)
	if err != nil {
		return err
	}
	if c == "." {
		return fn(t.fd, "", unix.AT_EMPTY_PATH)
	}
	return t.at(c, func(d int, n string) error { return fn(d, n, 0) })
}

func (t *tree) lchown(rel string, uid, gid int) error {
	return t.entry(rel, func(d int, n string, e int) error {
		return unix.Fchownat(d, n, uid, gid, unix.AT_SYMLINK_NOFOLLOW|e)
	})
}

// chmod changes the mode of rel; symbolic links have no mode of their own and are left alone. The
// entry is opened once (O_PATH|O_NOFOLLOW) and that inode is both checked and changed: checking by name
// and then changing by name would follow a symlink swapped in between, out of the tree.
func (t *tree) chmod(rel string, mode uint32) error {
	return t.entry(rel, func(d int, n string, e int) error {
		fd := d // the root
		if e == 0 {
			var err error
			if fd, err = unix.Openat(d, n, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err != nil {
				return err
			}
			defer unix.Close(fd)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return nil
		}
		// fchmod refuses O_PATH descriptors; the descriptor's /proc link reaches the same inode.
		return unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), mode&07777)
	})
}

func (t *tree) utimens(rel string, ts []unix.Timespec) error {
	return t.entry(rel, func(d int, n string, e int) error {
		if e != 0 { // utimensat's AT_EMPTY_PATH is recent; the descriptor's /proc link reaches the root
			return unix.UtimesNanoAt(unix.AT_FDCWD, procPath(d, ""), ts, 0)
		}
		return unix.UtimesNanoAt(d, n, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
}

func (t *tree) truncate(rel string, size int64) error {
	fd, err := t.open(rel, unix.O_WRONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Ftruncate(fd, size)
}

func (t *tree) setxattr(rel, attr string, data []byte, flags int) error {
	return t.entry(rel, func(d int, n string, _ int) error { return unix.Lsetxattr(procPath(d, n), attr, data, flags) })
}

func (t *tree) removexattr(rel, attr string) error {
	return t.entry(rel, func(d int, n string, _ int) error { return unix.Lremovexattr(procPath(d, n), attr) })
}

func (t *tree) lstat(rel string) (unix.Stat_t, error) {
	var st unix.Stat_t
	c, err := cleanRel(rel)
	if err != nil {
		return st, err
	}
	if c == "." {
		return st, unix.Fstatat(t.fd, "", &st, unix.AT_EMPTY_PATH)
	}
	err = t.at(c, func(d int, n string) error { return unix.Fstatat(d, n, &st, unix.AT_SYMLINK_NOFOLLOW) })
	return st, err
}

func (t *tree) readlink(rel string) (string, error) {
	var target string
	err := t.at(rel, func(d int, n string) error {
		buf := make([]byte, unix.PathMax)
		k, err := unix.Readlinkat(d, n, buf)
		if err != nil {
			return err
		}
		target = string(buf[:k])
		return nil
	})
	return target, err
}

// syncDir makes the entries of directory rel durable.
func (t *tree) syncDir(rel string) error {
	fd, err := t.open(rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsync(fd)
}

// syncFS flushes the whole file system the tree is on (syncfs(2)): every file and directory written.
func (t *tree) syncFS() error {
	fd, err := t.open(".", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("syncfs %s: %w", t.root, err)
	}
	return nil
}

// readDir lists the names in directory rel.
func (t *tree) readDir(rel string) ([]os.DirEntry, error) {
	fd, err := t.open(rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), t.abs(rel))
	defer f.Close()
	return f.ReadDir(-1)
}

// removeAll removes rel and everything beneath it, without following symbolic links.
func (t *tree) removeAll(rel string) error {
	st, err := t.lstat(rel)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return t.unlink(rel)
	}
	entries, err := t.readDir(rel)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := t.removeAll(path.Join(rel, e.Name())); err != nil {
			return err
		}
	}
	return t.rmdir(rel)
}
