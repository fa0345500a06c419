package lock

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mirrorctl/mirrorctl/meta"
	"golang.org/x/sys/unix"
)

// The lock files in a tree's metadata area: one for the tree as a mirror, one for it as a primary.
// They are separate because status and promote read the mirror's holder to find a killed mount.
const (
	mirrorFile  = "lock"
	primaryFile = "primary.lock"
)

// Holder says who holds a lock.
type Holder struct {
	PID        int    `json:"pid"`
	Command    string `json:"command"` // mount, sync, promote, ...
	MountPoint string `json:"mount_point,omitempty"`
}

// Lock is an exclusive claim on a mirror or primary directory, held for as long as a mount serves it
// or a sync or promote works on it. It is an flock, so it disappears with the process that holds it:
// a killed mount leaves no stale lock.
type Lock struct {
	f *os.File
	// What TryLock changed, for Undo: the metadata area and the lock file if it created them, and the
	// holder the file named before.
	createdDir, createdFile string
	before                  []byte
}

// ErrLocked is returned by TryLock and TryLockPrimary when another process holds the lock.
var ErrLocked = errors.New("mirror is in use")

// LockedError says who holds the lock.
type LockedError struct {
	Dir    string
	Role   string // "mirror" or "primary": what Dir is to the process refused
	Holder Holder
}

func (e *LockedError) Error() string {
	h, role := e.Holder, e.Role
	if role == "" {
		role = "mirror"
	}
	switch {
	case h.Command == "mount" && h.MountPoint != "" && role == "primary":
		return fmt.Sprintf("primary %s is already served by a running mount (pid %d) at %s: a primary has one mount, or writes through a second one miss the first one's mirror; use %s, or stop it first with \"mirrorctl unmount %s\"", e.Dir, h.PID, h.MountPoint, h.MountPoint, h.MountPoint)
	case h.Command == "mount" && h.MountPoint != "":
		return fmt.Sprintf("mirror %s is kept in sync by a running mount (pid %d) at %s (see \"mirrorctl status %s\"); stop it first with \"mirrorctl unmount %s\"", e.Dir, h.PID, h.MountPoint, h.MountPoint, h.MountPoint)
	case h.PID != 0:
		return fmt.Sprintf("%s %s is in use by \"mirrorctl %s\" (pid %d): wait for it to finish or stop it", role, e.Dir, h.Command, h.PID)
	}
	return fmt.Sprintf("%s %s is in use by another mirrorctl process", role, e.Dir)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// TryLock takes the lock of the mirror directory dir, whose lock file is in dir's metadata area
// (meta.Dir, created if missing), or returns a *LockedError naming the holder.
func TryLock(dir string, h Holder) (*Lock, error) { return tryLock(dir, "mirror", mirrorFile, h) }

// TryLockPrimary takes the lock of the primary directory dir, held by whatever writes the primary
// through mirrorctl (a mount, a sync), so that one primary has one mount: a second mount with another
// mirror would write the primary behind the first mount's back. Like TryLock it never waits.
func TryLockPrimary(dir string, h Holder) (*Lock, error) {
	return tryLock(dir, "primary", primaryFile, h)
}

func tryLock(dir, role, name string, h Holder) (*Lock, error) {
	l := &Lock{}
	md := filepath.Join(dir, meta.Dir)
	if _, err := os.Lstat(md); errors.Is(err, os.ErrNotExist) {
		l.createdDir = md
	}
	if err := os.MkdirAll(md, 0o700); err != nil {
		return nil, meta.Explain(err)
	}
	p := filepath.Join(md, name)
	if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
		l.createdFile = p
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		l.undoCreate()
		return nil, meta.Explain(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			le := &LockedError{Dir: dir, Role: role}
			if b, rerr := os.ReadFile(p); rerr == nil {
				_ = json.Unmarshal(b, &le.Holder)
			}
			return nil, le
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	l.f = f
	l.before, _ = os.ReadFile(p)
	b, _ := json.Marshal(h)
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(b, 0)
	}
	return l, nil
}

// Held returns a *LockedError when another process holds the mirror lock of dir, and nil when none
// does, without creating or keeping anything: a caller that must take other locks first learns of a
// refusal before it changes a thing. (A lock file that does not exist is held by no one.)
func Held(dir string) error { return held(dir, "mirror", mirrorFile) }

// HeldPrimary is Held for the primary's lock: a *LockedError names the mount or sync that writes
// the primary dir now.
func HeldPrimary(dir string) error { return held(dir, "primary", primaryFile) }

func held(dir, role, name string) error {
	p := meta.Path(dir, name)
	f, err := os.OpenFile(p, os.O_RDONLY, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); errors.Is(err, unix.EWOULDBLOCK) {
		le := &LockedError{Dir: dir, Role: role}
		if b, rerr := os.ReadFile(p); rerr == nil {
			_ = json.Unmarshal(b, &le.Holder)
		}
		return le
	}
	return nil // closing the descriptor lets go of the lock just taken
}

// ReadHolder returns what the mirror lock file of dir (in its metadata area) says of the current or
// last holder.
func ReadHolder(dir string) (Holder, bool) {
	var h Holder
	b, err := os.ReadFile(meta.Path(dir, mirrorFile))
	if err != nil || json.Unmarshal(b, &h) != nil {
		return h, false
	}
	return h, true
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close()
	l.f = nil
	return err
}

// Undo releases the lock and puts back what TryLock changed: the holder the lock file named before,
// or no lock file (and no metadata area) where TryLock created them. It is for a caller refused
// right after taking the lock, so that a refusal leaves the tree as it found it.
func (l *Lock) Undo() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Truncate(0)
	if err == nil && len(l.before) > 0 {
		_, err = l.f.WriteAt(l.before, 0)
	}
	err = errors.Join(err, l.f.Close())
	l.f = nil
	l.undoCreate()
	return err
}

// undoCreate removes the lock file and the metadata area if TryLock created them; a metadata area
// that something else wrote into meanwhile stays.
func (l *Lock) undoCreate() {
	if l.createdFile != "" {
		_ = os.Remove(l.createdFile)
	}
	if l.createdDir != "" {
		_ = os.Remove(l.createdDir) // fails, and keeps it, when it is not empty
	}
}
