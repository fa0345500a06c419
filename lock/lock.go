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

// Holder says who holds a mirror's lock.
type Holder struct {
	PID        int    `json:"pid"`
	Command    string `json:"command"` // mount, sync, promote, ...
	MountPoint string `json:"mount_point,omitempty"`
}

// Lock is an exclusive claim on a mirror directory, held for as long as a mount serves it or a sync or
// promote works on it. It is an flock, so it disappears with the process that holds it: a killed mount
// leaves no stale lock.
type Lock struct {
	f *os.File
}

// ErrLocked is returned by TryLock when another process holds the lock.
var ErrLocked = errors.New("mirror is in use")

// LockedError says who holds the lock.
type LockedError struct {
	Dir    string
	Holder Holder
}

func (e *LockedError) Error() string {
	h := e.Holder
	switch {
	case h.Command == "mount" && h.MountPoint != "":
		return fmt.Sprintf("mirror %s is kept in sync by a running mount (pid %d) at %s (see \"mirrorctl status %s\"); stop it first with \"mirrorctl unmount %s\"", e.Dir, h.PID, h.MountPoint, h.MountPoint, h.MountPoint)
	case h.PID != 0:
		return fmt.Sprintf("mirror %s is in use by \"mirrorctl %s\" (pid %d): wait for it to finish or stop it", e.Dir, h.Command, h.PID)
	}
	return fmt.Sprintf("mirror %s is in use by another mirrorctl process", e.Dir)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// TryLock takes the lock of the mirror directory dir, whose lock file is in dir's metadata area
// (meta.Dir, created if missing), or returns a *LockedError naming the holder.
func TryLock(dir string, h Holder) (*Lock, error) {
	md := filepath.Join(dir, meta.Dir)
	if err := os.MkdirAll(md, 0o700); err != nil {
		return nil, meta.Explain(err)
	}
	p := filepath.Join(md, "lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, meta.Explain(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			le := &LockedError{Dir: dir}
			if b, rerr := os.ReadFile(p); rerr == nil {
				_ = json.Unmarshal(b, &le.Holder)
			}
			return nil, le
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	b, _ := json.Marshal(h)
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt(b, 0)
	}
	return &Lock{f: f}, nil
}

// ReadHolder returns what the lock file of dir (in its metadata area) says of the current or
// last holder.
func ReadHolder(dir string) (Holder, bool) {
	var h Holder
	b, err := os.ReadFile(meta.Path(dir, "lock"))
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
