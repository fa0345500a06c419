package foreign

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Op is what a change did: fanotify's event bits.
type Op uint64

// The changes watched. Not FAN_CLOSE_WRITE: it only says that a file open for writing was closed,
// which readers that open read-write (Berkeley DB's utilities on the logs, db_stat run by an
// operator) do without changing a byte; every write(2), truncate and O_TRUNC open gives FAN_MODIFY.
// What no event reports is a write through a shared mapping of the primary's file made behind the
// mount's back: fanotify sees no mmap writes, and the next start's comparison finds them.
const (
	Modify    Op = unix.FAN_MODIFY
	Create    Op = unix.FAN_CREATE
	Delete    Op = unix.FAN_DELETE
	MovedFrom Op = unix.FAN_MOVED_FROM
	MovedTo   Op = unix.FAN_MOVED_TO
	Attrib    Op = unix.FAN_ATTRIB

	allOps = Modify | Create | Delete | MovedFrom | MovedTo | Attrib
)

var opNames = []struct {
	op   Op
	name string
}{
	{Create, "create"}, {Modify, "modify"}, {Attrib, "attrib"},
	{MovedFrom, "moved_from"}, {MovedTo, "moved_to"}, {Delete, "delete"},
}

// String names the changes, e.g. "create|modify".
func (o Op) String() string {
	var names []string
	for _, n := range opNames {
		if o&n.op != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, "|")
}

// Change is one change below the root by another process, or the news that changes were lost.
type Change struct {
	// Rel is the changed entry, slash-separated and relative to the root ("." for the root itself).
	// It is the name the entry has when the change is read, which is the one a copy must use.
	Rel   string
	Ops   Op
	IsDir bool // the entry is a directory
	PID   int  // the process that made the change (its thread group)
	// Comm is the process's name (/proc/PID/comm), "" when it has ended before the change was read.
	Comm string
	// Lost says that the kernel dropped changes (its queue overflowed) or the watcher stopped
	// reading: anything below the root may have changed. Rel is then ".".
	Lost bool
}

// ErrUnavailable is wrapped by every error of Watch that means fanotify cannot watch this file system
// here: not root, a kernel without FAN_REPORT_DFID_NAME, a file system without file handles.
var ErrUnavailable = errors.New("fanotify cannot watch the file system")

// watchMask is every change that can make the mirror differ; FAN_ONDIR asks for directories too.
const watchMask = uint64(allOps) | unix.FAN_ONDIR

// maxDirs bounds the cache of resolved directories.
const maxDirs = 4096

// Watcher reports the changes other processes make below one directory. Its reader goroutine owns
// everything but f, done and err: the cache of directories, the root's current name.
type Watcher struct {
	notify func(Change)
	self   int32    // this process's id: its own changes are not reported
	rootFd int      // the root, opened O_PATH: the mount descriptor for open_by_handle_at
	f      *os.File // the fanotify descriptor, non-blocking, read through Go's poller
	done   chan struct{}
	once   sync.Once
	err    error // why the reader stopped, if not for Close; written before done is closed

	root string            // the root's path as /proc names it; refreshed when a directory is renamed
	dirs map[string]string // directory handle -> its path as /proc names it
}

// Watch starts watching the file system that holds root, and calls notify, from one goroutine and in
// the order the kernel reported them, for each change below root by a process other than this one.
// It needs CAP_SYS_ADMIN. notify must not call Close.
func Watch(root string, notify func(Change)) (*Watcher, error) {
	rootFd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	w := &Watcher{notify: notify, self: int32(os.Getpid()), rootFd: rootFd, done: make(chan struct{}), dirs: map[string]string{}}
	if w.root, err = fdPath(rootFd); err != nil {
		unix.Close(rootFd)
		return nil, fmt.Errorf("watch %s: %w", root, err)
	}
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_NOTIF|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK|unix.FAN_REPORT_DFID_NAME,
		unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		unix.Close(rootFd)
		return nil, unavailable(root, "fanotify_init", err)
	}
	if err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, watchMask, unix.AT_FDCWD, root); err != nil {
		unix.Close(fd)
		unix.Close(rootFd)
		return nil, unavailable(root, "fanotify_mark", err)
	}
	w.f = os.NewFile(uintptr(fd), "fanotify") // non-blocking: Read parks in the poller, Close wakes it
	go w.read()
	return w, nil
}

// unavailable says why fanotify refused, in words an operator can act on.
func unavailable(root, call string, err error) error {
	why := "fanotify refused"
	switch {
	case errors.Is(err, unix.EPERM):
		why = "watching a file system needs root (CAP_SYS_ADMIN)"
	case errors.Is(err, unix.ENOSYS):
		why = "the kernel has no fanotify"
	case errors.Is(err, unix.EINVAL) && call == "fanotify_init":
		why = "the kernel's fanotify lacks FAN_REPORT_DFID_NAME (Linux 5.9 or later)"
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENODEV), errors.Is(err, unix.EXDEV):
		why = "the file system of " + root + " gives fanotify no file handles (overlayfs, FUSE and btrfs subvolumes may not)"
	case errors.Is(err, unix.EINVAL):
		why = "the kernel's fanotify cannot watch these events on a whole file system"
	}
	return fmt.Errorf("%w %s: %s: %s: %v", ErrUnavailable, root, why, call, err)
}

// IgnoreModify tells the kernel to stop reporting modifications of the file open as fd (changes
// of its attributes, names and removal are still reported), until UnignoreModify: fusefs lets the
// kernel write engine logs directly for the application, and those writes are the mount's own. The
// mark survives the modifications it ignores (FAN_MARK_IGNORED_SURV_MODIFY).
func (w *Watcher) IgnoreModify(fd int) error {
	return w.markFile(unix.FAN_MARK_ADD|unix.FAN_MARK_IGNORED_MASK|unix.FAN_MARK_IGNORED_SURV_MODIFY, fd)
}

// UnignoreModify undoes IgnoreModify.
func (w *Watcher) UnignoreModify(fd int) error {
	return w.markFile(unix.FAN_MARK_REMOVE|unix.FAN_MARK_IGNORED_MASK, fd)
}

// markFile changes the mark of the inode open as fd: fanotify_mark with a NULL path marks dirfd's
// own inode (unix.FanotifyMark would pass "" and fail with ENOENT).
// It goes through SyscallConn: File.Fd would turn the descriptor blocking, under Go's poller.
func (w *Watcher) markFile(flags uint, fd int) error {
	rc, err := w.f.SyscallConn()
	if err != nil {
		return err
	}
	var e syscall.Errno
	if err := rc.Control(func(fan uintptr) {
		_, _, e = unix.Syscall6(unix.SYS_FANOTIFY_MARK, fan, uintptr(flags), uintptr(unix.FAN_MODIFY), uintptr(fd), 0, 0)
	}); err != nil {
		return err
	}
	if e != 0 {
		return fmt.Errorf("fanotify_mark: %w", e)
	}
	return nil
}

// Close stops the watcher: when it returns, notify is not running and will not be called again, and
// every descriptor is closed. It returns why the reader had stopped on its own, if it had.
func (w *Watcher) Close() error {
	w.once.Do(func() {
		_ = w.f.Close() // wakes the reader's Read with os.ErrClosed
		<-w.done
		unix.Close(w.rootFd)
	})
	return w.err
}

// read is the reader goroutine.
func (w *Watcher) read() {
	defer close(w.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := w.f.Read(buf)
		if errors.Is(err, os.ErrClosed) {
			return
		}
		if err != nil {
			// Nothing more is read: from now on changes go unseen, so everything may have changed.
			w.err = fmt.Errorf("fanotify: read: %w", err)
			w.notify(Change{Rel: ".", Lost: true})
			return
		}
		evs, perr := parseEvents(buf[:n])
		for _, ev := range evs {
			w.handle(ev)
		}
		if perr != nil {
			w.notify(Change{Rel: ".", Lost: true})
		}
	}
}

// handle turns one event into a Change, if it is another process's change below the root.
func (w *Watcher) handle(ev event) {
	if ev.fd >= 0 {
		unix.Close(int(ev.fd)) // FID mode sends none; were one sent, it must not leak
	}
	if ev.mask&unix.FAN_Q_OVERFLOW != 0 {
		w.notify(Change{Rel: ".", Lost: true})
		return
	}
	ops := Op(ev.mask) & allOps
	isDir := ev.mask&unix.FAN_ONDIR != 0
	if isDir && ops&(MovedFrom|MovedTo) != 0 {
		// Whoever renamed a directory, paths below it changed: names cached for it are wrong now.
		w.forget()
	}
	if ev.pid == w.self || ops == 0 || ev.dir.zero() {
		return
	}
	dir, ok := w.resolve(ev.dir)
	if !ok {
		return
	}
	rel, ok := below(w.root, dir, ev.name)
	if !ok {
		return
	}
	w.notify(Change{Rel: rel, Ops: ops, IsDir: isDir, PID: int(ev.pid), Comm: comm(ev.pid)})
}

// forget empties the cache of directories and reads the root's name again (a directory above it
// may have been renamed).
func (w *Watcher) forget() {
	clear(w.dirs)
	if p, err := fdPath(w.rootFd); err == nil {
		w.root = p
	}
}

// resolve returns the path of the directory with handle h, and false when it is gone: an event in a
// directory removed since needs no copy of its own, for the directory's removal is an event too, in
// a directory that is still there or itself removed in turn.
func (w *Watcher) resolve(h handle) (string, bool) {
	k := h.key()
	if p, ok := w.dirs[k]; ok {
		return p, p != ""
	}
	p, err := w.lookup(h)
	if err != nil {
		return "", false // not cached: a passing failure (EMFILE) must not hide the directory for good
	}
	if len(w.dirs) >= maxDirs {
		clear(w.dirs)
	}
	w.dirs[k] = p
	return p, p != ""
}

// lookup opens the directory by its handle and reads its path; "" with no error when it is gone.
func (w *Watcher) lookup(h handle) (string, error) {
	fd, err := unix.OpenByHandleAt(w.rootFd, unix.NewFileHandle(h.typ, h.bytes), unix.O_PATH|unix.O_CLOEXEC)
	if errors.Is(err, unix.ESTALE) || errors.Is(err, unix.ENOENT) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", err
	}
	if st.Nlink == 0 {
		return "", nil // removed, but the handle still opens it
	}
	return fdPath(fd)
}

// fdPath is the path /proc gives for a descriptor.
func fdPath(fd int) (string, error) {
	return os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
}

// below returns name in directory dir relative to root, and false when it is not below root.
func below(root, dir, name string) (string, bool) {
	var rel string
	switch {
	case dir == root:
		rel = "."
	case root == "/":
		rel = strings.TrimPrefix(dir, "/")
	case strings.HasPrefix(dir, root+"/"):
		rel = dir[len(root)+1:]
	default:
		return "", false
	}
	if name != "" && name != "." {
		rel = path.Join(rel, name)
	}
	return rel, true
}

// comm is the name of process pid, "" once it has ended.
func comm(pid int32) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(b), "\n")
}
