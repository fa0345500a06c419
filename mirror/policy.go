package mirror

import (
	"fmt"
	"path"
	"strings"

	"github.com/mirrorctl/mirrorctl/meta"
)

// Policy says which paths (slash-separated, relative to the tree's root) are mirrored. Files that are
// not mirrored are still served from the primary; they simply never reach the mirror.
type Policy interface {
	Mirrored(rel string) bool
}

// PolicyFunc adapts a function to a Policy.
type PolicyFunc func(rel string) bool

// Mirrored implements Policy.
func (f PolicyFunc) Mirrored(rel string) bool { return f(rel) }

// IsMeta reports whether rel lies in the metadata area, however it is spelt ("./.mirrorctl/x" and
// "a/../.mirrorctl" are cleaned to it by the tree, so they must be refused too).
func IsMeta(rel string) bool {
	rel = path.Clean(rel)
	return rel == meta.Dir || strings.HasPrefix(rel, meta.Dir+"/")
}

// Exclusions is the usual Policy: a path is mirrored unless it is in the metadata area, the engine says
// it is rebuilt by recovery (Rebuilt), or it matches one of the globs. A glob without a slash matches
// the file's base name at any depth; a glob with a slash matches the whole relative path.
type Exclusions struct {
	Globs []string
	// Rebuilt is given a base name (never a path): what recovery rebuilds is known by its name.
	Rebuilt func(name string) bool
	// Staged, if set, picks out of Rebuilt's names those of files the engine renames into databases
	// (engine.Staged): not mirrored either, but never kept apart from the databases (IsRebuilt).
	Staged func(name string) bool
}

// NewExclusions checks the globs and returns the policy.
func NewExclusions(globs []string, rebuilt func(name string) bool) (*Exclusions, error) {
	for _, g := range globs {
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("exclude pattern %q is not a valid glob: %w", g, err)
		}
	}
	return &Exclusions{Globs: globs, Rebuilt: rebuilt}, nil
}

// RebuiltPolicy is a Policy that also tells which of the paths it does not mirror are files the engine
// rebuilds (as opposed to paths excluded by a glob).
type RebuiltPolicy interface {
	Policy
	IsRebuilt(rel string) bool
}

// IsRebuilt implements RebuiltPolicy: rel's own name is one the engine rebuilds.
func (e *Exclusions) IsRebuilt(rel string) bool {
	if e.Rebuilt == nil || IsMeta(rel) || rel == "." {
		return false
	}
	base := path.Base(rel)
	return e.Rebuilt(base) && (e.Staged == nil || !e.Staged(base))
}

// Mirrored implements Policy. What lies below an excluded directory is excluded too: the mirror has no
// such directory, and Sync and Verify never descend into one.
func (e *Exclusions) Mirrored(rel string) bool {
	if IsMeta(rel) {
		return false
	}
	for p := rel; p != "." && p != "/" && p != ""; p = path.Dir(p) {
		if e.excluded(p) {
			return false
		}
	}
	return true
}

// excluded reports whether rel itself is rebuilt by recovery or matches a glob.
func (e *Exclusions) excluded(rel string) bool {
	base := path.Base(rel)
	if e.Rebuilt != nil && e.Rebuilt(base) {
		return true
	}
	for _, g := range e.Globs {
		subject := base
		if strings.Contains(g, "/") {
			subject = rel
		}
		if ok, _ := path.Match(g, subject); ok {
			return true
		}
	}
	return false
}

// pathDependent is a Policy that can tell whether its answer for an entry depends on more than the
// names of the entry and its ancestors.
type pathDependent interface {
	DependsOnPath() bool
}

// DependsOnPath reports whether a glob matches whole paths (has a slash): only then can renaming a
// directory between two mirrored names move an entry below it between mirrored and excluded. A policy
// of base names gives an entry below the same answer under either name of the directory.
func (e *Exclusions) DependsOnPath() bool {
	for _, g := range e.Globs {
		if strings.Contains(g, "/") {
			return true
		}
	}
	return false
}

// dependsOnPath is DependsOnPath for any Policy; one that cannot say is taken to depend on paths.
func dependsOnPath(p Policy) bool {
	d, ok := p.(pathDependent)
	return !ok || d.DependsOnPath()
}
