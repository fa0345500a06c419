package mirror

// The files the engine rebuilds (Berkeley DB's regions, SQLite's -shm, LMDB's lock.mdb) are never
// mirrored: recovery makes them anew. By default they live on the primary, so the primary's death
// takes them along, and an application that maps them dies of SIGBUS even when the mirror could take
// over. With Options.RebuiltDir they live in a directory of their own (RAM, say): every lookup,
// open, creation, removal, rename and listing of such a name is served there, at the same relative
// path, and the primary's own files of those names are not shown.
//
// Invariants:
//   - A name is served from one tree only: side(rel) decides it by the name alone, so every operation
//     on it finds the same file.
//   - Nothing moves between the two: a rename or link between a rebuilt name and another is refused
//     with EXDEV, as between two file systems.

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// CheckRebuiltDir checks, before anything is written, that dir can hold the rebuilt files of the pair
// primary and mirrorDir: it must lie apart from both.
func CheckRebuiltDir(dir, primary, mirrorDir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("--rebuilt-files-dir %s: %w", dir, err)
	}
	for _, d := range []string{primary, mirrorDir} {
		if overlaps(abs, d) {
			return fmt.Errorf("--rebuilt-files-dir %s and %s lie inside one another: give a directory of its own, outside the primary and the mirror (in RAM, e.g. /dev/shm/env)", abs, d)
		}
	}
	return nil
}

// openRebuilt creates (if need be) and opens the directory for rebuilt files, which must lie apart
// from the primary and the mirror.
func openRebuilt(dir, primary, mirrorDir string) (*tree, error) {
	if err := CheckRebuiltDir(dir, primary, mirrorDir); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("rebuilt-files directory: %w", err)
	}
	t, err := openTree(abs)
	if err != nil {
		return nil, fmt.Errorf("rebuilt-files directory: %w", err)
	}
	return t, nil
}

// side is the tree that serves rel: the rebuilt-files directory for a rebuilt name, if there is one,
// the primary otherwise.
func (m *Mirror) side(rel string) *tree {
	if m.rebuilt != nil && m.isRebuilt(rel) {
		return m.rebuilt
	}
	return m.primary
}

func (m *Mirror) isRebuilt(rel string) bool {
	rp, ok := m.policy.(RebuiltPolicy)
	return ok && rp.IsRebuilt(rel)
}

// sameSide refuses an operation that would give a file names in both the rebuilt-files directory and
// the primary.
func (m *Mirror) sameSide(op, oldRel, newRel string) error {
	if m.rebuilt == nil || m.side(oldRel) == m.side(newRel) {
		return nil
	}
	return fmt.Errorf("%s %s to %s: one name is a file the engine rebuilds, kept in the rebuilt-files directory, the other is not: %w",
		op, oldRel, newRel, unix.EXDEV)
}

// rebuiltParents creates the directories above rel in the rebuilt-files directory.
func (m *Mirror) rebuiltParents(rel string) error {
	dir := path.Dir(rel)
	if dir == "." {
		return nil
	}
	return os.MkdirAll(m.rebuilt.abs(dir), 0o755)
}

// RebuiltEntry is an entry of the rebuilt-files directory, for a listing.
type RebuiltEntry struct {
	Name string
	Mode uint32 // the type bits of st_mode
	Ino  uint64
}

// HasRebuiltDir reports whether rebuilt files are served from a directory of their own.
func (m *Mirror) HasRebuiltDir() bool { return m.rebuilt != nil }

// IsRebuilt reports whether rel is served from the rebuilt-files directory.
func (m *Mirror) IsRebuilt(rel string) bool { return m.rebuilt != nil && m.isRebuilt(rel) }

// RebuiltEntries lists the rebuilt files in directory rel of the rebuilt-files directory (none when it
// has no such directory).
func (m *Mirror) RebuiltEntries(rel string) ([]RebuiltEntry, error) {
	if m.rebuilt == nil {
		return nil, nil
	}
	ents, err := m.rebuilt.readDir(rel)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []RebuiltEntry
	for _, e := range ents {
		child := path.Join(rel, e.Name())
		if !m.isRebuilt(child) {
			continue // a directory made for a deeper rebuilt file: the primary has the real one
		}
		info, err := e.Info()
		if err != nil {
			continue // removed since
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		out = append(out, RebuiltEntry{Name: e.Name(), Mode: st.Mode & syscall.S_IFMT, Ino: st.Ino})
	}
	return out, nil
}
