package main

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/engine/detect"
	"github.com/mirrorctl/mirrorctl/engine/lmdb"
	"github.com/mirrorctl/mirrorctl/engine/sqlite"
	"github.com/mirrorctl/mirrorctl/meta"
	"github.com/mirrorctl/mirrorctl/mirror"
	"github.com/urfave/cli/v2"
)

// excludeFlag is --exclude, shared by the commands that walk an environment.
var excludeFlag = &cli.StringSliceFlag{
	Name:  "exclude",
	Usage: "do not mirror files matching `GLOB` (base name, or relative path if it has a slash); repeatable",
}

// retainFlag is --retain-logs.
var retainFlag = &cli.StringFlag{
	Name:  "retain-logs",
	Value: "all",
	Usage: "how long the mirror keeps log files the primary removed: all, a count (20), a size (10GiB) or an age (72h, 7d); logs normal recovery needs are always kept",
}

// policyFor is the mirroring policy: everything but the engine's region files and --exclude globs.
func policyFor(c *cli.Context, eng engine.Core) (*mirror.Exclusions, error) {
	p, err := mirror.NewExclusions(c.StringSlice("exclude"), func(name string) bool {
		return eng.Classify(name) == engine.ClassRegion
	})
	if err != nil {
		return nil, usageError("%v", err)
	}
	if st, ok := eng.(engine.Staged); ok {
		p.Staged = st.IsStaged
	}
	return p, nil
}

// mirrorOptions are the core's options for an engine: its logs and the retention policy. An engine
// without rotating logs has none to seal or retain: a file its primary removes is removed from the
// mirror too (SQLite's journals and WALs must never outlive the primary's).
func mirrorOptions(c *cli.Context, eng engine.Core, mirrorDir string) (mirror.Options, error) {
	ret, err := mirror.ParseRetention(c.String("retain-logs"))
	if err != nil {
		return mirror.Options{}, usageError("%v", err)
	}
	lg, ok := eng.(engine.RotatingLogs)
	if !ok {
		return mirror.Options{}, nil
	}
	return mirror.Options{
		Logs:      lg.LogNumber,
		Retention: ret,
		NeededFrom: func(ctx context.Context) (uint32, error) {
			tail, err := lg.Tail(ctx, mirrorDir)
			return tail.Start.File, err // on an error the core keeps every log
		},
	}, nil
}

func requireDir(c *cli.Context, name string) (string, error) {
	v := c.String(name)
	if v == "" {
		return "", usageError("--%s DIR is required", name)
	}
	return v, nil
}

// pairSetup is what mount, sync and verify all start from: the checked pair, the engine, its
// mirroring policy and the core's options for it.
type pairSetup struct {
	kind   detect.Kind // the engine that serves the pair
	record string      // what the record will name: kind, or meta.EngineUndecided
	eng    engine.Core
	policy *mirror.Exclusions
	pair   mirror.Pair
	opts   mirror.Options
}

// newPairSetup reads --primary, --mirror, --engine, --exclude, --retain-logs and --bdb-utils and checks them
// before anything is written.
func newPairSetup(c *cli.Context) (pairSetup, error) {
	var s pairSetup
	primary, err := requireDir(c, "primary")
	if err != nil {
		return s, err
	}
	target, err := requireDir(c, "mirror")
	if err != nil {
		return s, err
	}
	if s.pair, err = mirror.CheckPair(primary, target); err != nil {
		return s, err
	}
	if s.kind, s.record, err = resolveEngine(c, s.pair, c.StringSlice("exclude")); err != nil {
		return s, err
	}
	if s.eng, err = engineOf(c, s.kind); err != nil {
		return s, err
	}
	if s.policy, err = policyFor(c, s.eng); err != nil {
		return s, err
	}
	if s.record == meta.EngineUndecided {
		undecided(s.policy, s.eng)
	}
	if w := excludedEngineFiles(s.eng, s.policy.Globs, s.pair.Primary); w != "" {
		fmt.Fprintln(c.App.ErrWriter, "warning: "+w)
	}
	s.opts, err = mirrorOptions(c, s.eng, s.pair.Mirror)
	s.opts.Engine = s.record
	return s, err
}

// undecided widens the policy of a primary whose engine its files do not tell yet (a new, empty
// environment): until its first database files decide at a later start, whatever any engine rebuilds
// (Berkeley DB's regions, SQLite's -shm, LMDB's lock.mdb) is rebuilt, not mirrored, and served from
// --rebuilt-files-dir when there is one.
func undecided(p *mirror.Exclusions, bdbEng engine.Core) {
	engines := []engine.Core{bdbEng, sqlite.New(), lmdb.New()}
	p.Rebuilt = func(name string) bool {
		for _, e := range engines {
			if e.Classify(name) == engine.ClassRegion {
				return true
			}
		}
		return false
	}
}

// needed says whether the engine needs a file of class c to recover the environment on the mirror.
func needed(c engine.Class) bool {
	return c == engine.ClassDatabase || c == engine.ClassLog || c == engine.ClassConfig
}

// excludedEngineFiles says, in one line, which --exclude globs keep files the engine needs (its
// databases, logs, configuration) off the mirror: such a mirror says "in sync" and cannot be promoted
// to a whole environment. It looks at the primary's files and at each glob read as a name ("*.db"
// is itself a database's name), so a new, empty environment is warned too. "": none.
func excludedEngineFiles(eng engine.Core, globs []string, primary string) string {
	type match struct {
		class   engine.Class
		example string // a file of the primary's; "": the glob itself reads as such a name
	}
	hit := map[string]match{}
	excludes := func(g, rel string) bool { return !(&mirror.Exclusions{Globs: []string{g}}).Mirrored(rel) }
	for _, g := range globs {
		if c := eng.Classify(g); needed(c) && excludes(g, g) {
			hit[g] = match{class: c}
		}
	}
	if len(globs) > 0 {
		_ = filepath.WalkDir(primary, func(p string, d fs.DirEntry, err error) error {
			rel, _ := filepath.Rel(primary, p)
			rel = filepath.ToSlash(rel)
			switch {
			case err != nil: // unreadable: the sync says so
				return nil
			case d.IsDir() && mirror.IsMeta(rel):
				return filepath.SkipDir
			case d.IsDir() || !needed(eng.Classify(rel)):
				return nil
			}
			for _, g := range globs {
				if m, ok := hit[g]; (!ok || m.example == "") && excludes(g, rel) {
					hit[g] = match{class: eng.Classify(rel), example: rel}
				}
			}
			for _, g := range globs {
				if hit[g].example == "" {
					return nil
				}
			}
			return fs.SkipAll // an example for every glob: enough said
		})
	}
	var parts []string
	for _, g := range globs {
		m, ok := hit[g]
		if !ok {
			continue
		}
		what := fmt.Sprintf("--exclude %q matches %s %s files", g, eng.Name(), m.class)
		if m.example != "" {
			what += " (" + m.example + ")"
		}
		parts = append(parts, what)
	}
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, "; ") + ": the mirror will say in sync without them, and promote cannot recover them; drop the pattern unless that is meant"
}
