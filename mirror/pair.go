package mirror

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mirrorctl/mirrorctl/host"
	"github.com/mirrorctl/mirrorctl/meta"
)

// ErrBadPair marks a refusal of a primary/mirror pair; the message says what to do.
var ErrBadPair = errors.New("unusable primary and mirror pair")

type pairError struct{ msg string }

func (e *pairError) Error() string { return e.msg }
func (e *pairError) Unwrap() error { return ErrBadPair }

func refuse(format string, args ...any) error { return &pairError{msg: fmt.Sprintf(format, args...)} }

// Within reports whether path a is b or lies inside b (both absolute, symlinks resolved).
func Within(a, b string) bool {
	return a == b || strings.HasPrefix(a, strings.TrimSuffix(b, "/")+"/")
}

// Resolve returns the absolute, symlink-free form of p; for a path that does not exist yet, of its
// parent plus the last name.
func Resolve(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r, nil
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, filepath.Base(abs)), nil
}

// notOnMirrorctlMount refuses a path that is, or lies inside, a mirrorctl mount: its content is the
// served primary's, and every write there goes through that mount, so neither a second mount nor a
// mirror can be built on it (and a dead one would hang or fail with ENOTCONN). It reads only the
// mount table, never the path itself, which may be a dead mount.
func notOnMirrorctlMount(role, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil // the checks that follow say what is wrong with it
	}
	for d := abs; ; d = filepath.Dir(d) {
		if ok, fstype := host.MountedAt(d); ok && fstype == host.MirrorctlFSType {
			where := "is the mirrorctl mount " + d
			if d != abs {
				where = "lies inside the mirrorctl mount at " + d
			}
			return refuse("%s %s %s: give the directory on disk, not a mount point that serves one (mirrorctl status %s names its primary and mirror)", role, path, where, d)
		}
		if d == "/" {
			return nil
		}
	}
}

// danglingLink reports whether p is a symbolic link that leads nowhere (a missing target, or a loop),
// and the target it names. Creating p would fail with "file exists", so it must be refused first.
func danglingLink(p string) (string, bool) {
	st, err := os.Lstat(p)
	if err != nil || st.Mode()&os.ModeSymlink == 0 {
		return "", false
	}
	if _, err := os.Stat(p); err == nil {
		return "", false
	}
	to, _ := os.Readlink(p)
	return to, true
}

// Pair is a checked primary and mirror directory.
type Pair struct {
	Primary, Mirror string // absolute, symlinks resolved
	// SameFileSystem is true when both lie on one file system: that is no protection against a dead disk.
	SameFileSystem bool
	MirrorExists   bool
}

// CheckPair checks a primary and mirror directory before anything is written: the primary must be a
// directory, the mirror a directory or a name whose parent exists, and neither may contain the other,
// be (or lie inside) a mirrorctl mount, or be a symbolic link that leads nowhere.
func CheckPair(primary, mirror string) (Pair, error) {
	var p Pair
	if primary == "" || mirror == "" {
		return p, refuse("both --primary and --mirror are needed")
	}
	if err := notOnMirrorctlMount("primary", primary); err != nil {
		return p, err
	}
	if err := notOnMirrorctlMount("mirror", mirror); err != nil {
		return p, err
	}
	if to, ok := danglingLink(primary); ok {
		return p, refuse("primary %s is a symbolic link to %s, which does not exist: give the environment directory itself with --primary", primary, to)
	}
	pst, err := os.Stat(primary)
	if err != nil {
		return p, refuse("primary %s: %v: give the environment directory of the database with --primary", primary, errors.Unwrap(err))
	}
	if !pst.IsDir() {
		return p, refuse("primary %s is not a directory: give the environment directory with --primary", primary)
	}
	if p.Primary, err = Resolve(primary); err != nil {
		return p, fmt.Errorf("primary %s: %w", primary, err)
	}
	if to, ok := danglingLink(mirror); ok {
		return p, refuse("mirror %s is a symbolic link to %s, which does not exist: create that directory on the second disk first, or give the real directory with --mirror", mirror, to)
	}
	if p.Mirror, err = Resolve(mirror); err != nil {
		return p, refuse("mirror %s: its parent directory does not exist: create it on the second disk first", mirror)
	}
	// A symbolic link may lead into such a mount too.
	if err := notOnMirrorctlMount("primary", p.Primary); err != nil {
		return p, err
	}
	if err := notOnMirrorctlMount("mirror", p.Mirror); err != nil {
		return p, err
	}
	if p.Primary == p.Mirror {
		return p, refuse("primary and mirror are the same directory (%s): the mirror must be on a second disk", p.Primary)
	}
	if Within(p.Mirror, p.Primary) {
		return p, refuse("mirror %s is inside the primary %s: put it on a second disk", p.Mirror, p.Primary)
	}
	if Within(p.Primary, p.Mirror) {
		return p, refuse("primary %s is inside the mirror %s: give two separate directories", p.Primary, p.Mirror)
	}
	mst, err := os.Stat(p.Mirror)
	switch {
	case err == nil && !mst.IsDir():
		return p, refuse("mirror %s exists and is not a directory: give a directory on the second disk", p.Mirror)
	case err == nil:
		p.MirrorExists = true
		p.SameFileSystem = pst.Sys().(*syscall.Stat_t).Dev == mst.Sys().(*syscall.Stat_t).Dev
	case errors.Is(err, os.ErrNotExist):
		if parent, err := os.Stat(filepath.Dir(p.Mirror)); err == nil {
			p.SameFileSystem = pst.Sys().(*syscall.Stat_t).Dev == parent.Sys().(*syscall.Stat_t).Dev
		}
	default:
		return p, refuse("mirror: %v", meta.Explain(err))
	}
	return p, nil
}

// ClaimOptions relax the identity checks of Claim.
type ClaimOptions struct {
	// Rebuild allows a mirror that belongs to another primary, or that was promoted, to be overwritten
	// with this primary's content.
	Rebuild bool
}

// Claim checks that the mirror may receive the primary's content and records the pairing: the
// primary's identity (created at first use) and the mirror's record. It refuses a mirror that belongs
// to another primary or that was promoted (split brain), and a primary that a promotion superseded,
// unless o.Rebuild.
func Claim(p Pair, o ClaimOptions) (meta.Identity, meta.Record, error) {
	id, ok, err := meta.ReadIdentity(p.Primary)
	if err != nil {
		return id, meta.Record{}, err
	}
	if ok && id.SupersededBy != "" && !o.Rebuild {
		return id, meta.Record{}, refuse("primary %s was superseded: its mirror was promoted to generation %s; the promoted copy is the production environment now. Mount that one as the primary, or pass --rebuild-mirror to start over from this one", p.Primary, id.SupersededBy)
	}
	rec, hasRec, err := meta.ReadRecord(p.Mirror)
	if err != nil {
		return id, rec, err
	}
	mid, mHasID, err := meta.ReadIdentity(p.Mirror)
	if err != nil {
		return id, rec, err
	}
	if !o.Rebuild {
		if hasRec && rec.State == meta.StatePromoted || mHasID && !hasRec {
			return id, rec, refuse("mirror %s is a promoted environment (generation %d), not a mirror: mirroring %s onto it would overwrite it with older data. Mount it as the primary instead, or pass --rebuild-mirror to overwrite it on purpose", p.Mirror, mid.Generation, p.Primary)
		}
		if hasRec && ok && rec.PrimaryID != id.ID {
			return id, rec, refuse("mirror %s belongs to another primary (%s, id %.8s): pass --rebuild-mirror to overwrite it with %s", p.Mirror, rec.PrimaryPath, rec.PrimaryID, p.Primary)
		}
		if hasRec && !ok {
			return id, rec, refuse("mirror %s belongs to another primary (%s, id %.8s); %s has no mirrorctl identity yet: pass --rebuild-mirror to overwrite the mirror with it", p.Mirror, rec.PrimaryPath, rec.PrimaryID, p.Primary)
		}
		if !hasRec && p.MirrorExists {
			if ents, err := os.ReadDir(p.Mirror); err == nil && len(ents) > 0 && !onlyMeta(ents) {
				return id, rec, refuse("mirror %s is not empty and was never a mirrorctl mirror: pass --rebuild-mirror to overwrite its content with %s", p.Mirror, p.Primary)
			}
		}
	}
	if !ok {
		id = meta.Identity{}
	}
	return id, rec, nil
}

func onlyMeta(ents []os.DirEntry) bool {
	for _, e := range ents {
		if e.Name() != meta.Dir {
			return false
		}
	}
	return true
}
