package main

import (
	"errors"
	"fmt"

	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/engine/bdb"
	"github.com/mirrorctl/mirrorctl/engine/detect"
	"github.com/mirrorctl/mirrorctl/engine/lmdb"
	"github.com/mirrorctl/mirrorctl/engine/sqlite"
	"github.com/mirrorctl/mirrorctl/meta"
	"github.com/mirrorctl/mirrorctl/mirror"
	"github.com/urfave/cli/v2"
)

var bdbUtilsFlag = &cli.StringFlag{
	Name:    "bdb-utils",
	Usage:   "directory (or name prefix) of the Berkeley DB utilities, if not db_recover/db5.3_recover on $PATH",
	EnvVars: []string{"MIRRORCTL_BDB_UTILS"},
}

// engineFlag says which engine the primary's files belong to. The mirror's record keeps the engine
// decided at the first sync or mount; later ones must agree with it.
var engineFlag = &cli.StringFlag{
	Name:  "engine",
	Value: "auto",
	Usage: "the engine of the primary's files: `auto` (the mirror's record, else detected from the files), bdb, sqlite or lmdb; a primary whose files belong to another engine, or to several, is refused",
}

// promoteEngineFlag is promote's --engine: the mirror's engine, which its record names.
var promoteEngineFlag = &cli.StringFlag{
	Name:  "engine",
	Value: "auto",
	Usage: "the mirror's engine: `auto` (what the mirror's record names, else its files), bdb, sqlite or lmdb; one that the record or the files contradict is refused",
}

// bdbEngine returns the Berkeley DB engine with the utilities the flags point at: the engine of the
// commands that work from a log history only Berkeley DB keeps (archive, restore, drill).
func bdbEngine(c *cli.Context) (engine.Engine, error) {
	return bdb.New(c.String("bdb-utils"))
}

// engineFor returns the engine that the record of mirrorDir names (Berkeley DB for a record without
// one, or no record; for a record whose engine is undecided, the engine of the files it holds, else
// --engine). An --engine other than auto (on the commands that have the flag) must agree with the
// record and with the files: a mirror is never recovered as another engine's.
func engineFor(c *cli.Context, mirrorDir string) (engine.Core, error) {
	want, err := engineFlagKind(c)
	if err != nil {
		return nil, err
	}
	rec, ok, err := meta.ReadRecord(mirrorDir)
	if err != nil {
		return nil, err
	}
	kind := detect.Kind(rec.EngineName())
	if rec.Engine == meta.EngineUndecided { // decided by the files the mirror holds now
		r, err := detect.Detect(mirrorDir, nil)
		switch {
		case err != nil:
			return nil, usageError("%v", err)
		case r.Kind == detect.None && want != "auto":
			kind = want
		case r.Kind == detect.None:
			kind = detect.BDB
		case want != "auto" && r.Kind != want:
			return nil, usageError("--engine %s, but the files of mirror %s are %s: give --engine %s (or auto)", want, mirrorDir, r, r.Kind)
		default:
			kind = r.Kind
		}
	} else if want != "auto" && want != kind {
		where := meta.Path(mirrorDir, meta.RecordFile)
		if !ok {
			where = "none: Berkeley DB"
		}
		return nil, usageError("--engine %s, but the record of mirror %s (%s) says it mirrors %s: give --engine %s (or auto)",
			want, mirrorDir, where, kind.Title(), kind)
	}
	return engineOf(c, kind)
}

// engineOf returns the engine of kind.
func engineOf(c *cli.Context, kind detect.Kind) (engine.Core, error) {
	switch kind {
	case detect.SQLite:
		return sqlite.New(), nil
	case detect.LMDB:
		return lmdb.New(), nil
	}
	return bdbEngine(c)
}

// engineFlagKind is --engine, checked; commands without the flag take auto.
func engineFlagKind(c *cli.Context) (detect.Kind, error) {
	want := detect.Kind(c.String("engine"))
	switch want {
	case "":
		return "auto", nil
	case "auto", detect.BDB, detect.SQLite, detect.LMDB:
		return want, nil
	}
	return "", usageError("--engine %q is not an engine: give auto, bdb, sqlite or lmdb", want)
}

// resolveEngine decides, before anything is written, the engine of a pair: the one the mirror's
// record names (Berkeley DB for a record without one), else --engine, else the primary's files,
// else Berkeley DB. It refuses a primary whose files belong to several engines, or to another engine
// than --engine or the record names, and an --engine that contradicts the record. A primary with no
// engine's files yet (a new environment) passes; when --engine is auto too, record is
// meta.EngineUndecided, so that its first database files decide at a later start. With
// --rebuild-mirror the record is not looked at: it is about to be replaced.
func resolveEngine(c *cli.Context, pair mirror.Pair, excludes []string) (kind detect.Kind, record string, err error) {
	want, err := engineFlagKind(c)
	if err != nil {
		return "", "", err
	}
	globs := &mirror.Exclusions{Globs: excludes}
	r, err := detect.Detect(pair.Primary, func(rel string) bool { return !globs.Mirrored(rel) })
	var mixed *detect.MixedError
	switch {
	case errors.As(err, &mixed):
		return "", "", usageError("%v", err)
	case err != nil:
		// An unreadable primary is the sync's to report, with its fix; nothing is detected here.
		r = detect.Result{Kind: detect.None}
	}
	if want != "auto" && r.Kind != detect.None && r.Kind != want {
		return "", "", usageError("%s", mismatch(pair.Primary, want, r))
	}
	if !c.Bool("rebuild-mirror") {
		rec, ok, err := meta.ReadRecord(pair.Mirror)
		if err != nil {
			return "", "", err
		}
		if ok && rec.Engine != meta.EngineUndecided {
			recorded := detect.Kind(rec.EngineName())
			if r.Kind != detect.None && r.Kind != recorded {
				return "", "", usageError("%s", recordMismatch(pair, recorded, r))
			}
			if want != "auto" && want != recorded {
				return "", "", usageError("--engine %s, but the record of mirror %s (%s) says it mirrors %s: give --engine %s (or auto), or start a new mirror with --rebuild-mirror",
					want, pair.Mirror, meta.Path(pair.Mirror, meta.RecordFile), recorded.Title(), recorded)
			}
			return recorded, string(recorded), nil
		}
	}
	switch {
	case want != "auto":
		return want, string(want), nil
	case r.Kind != detect.None:
		return r.Kind, string(r.Kind), nil
	}
	return detect.BDB, meta.EngineUndecided, nil
}

// mismatch is the refusal of a primary whose files are engine r's when --engine said want.
func mismatch(primary string, want detect.Kind, r detect.Result) string {
	return fmt.Sprintf("--engine %s, but the files of %s are %s: give --engine %s (or auto), or the directory of the %s environment with --primary",
		want, primary, r, r.Kind, want.Title())
}

// recordMismatch is the refusal of a primary whose files are engine r's when the mirror's record
// says it mirrors recorded.
func recordMismatch(pair mirror.Pair, recorded detect.Kind, r detect.Result) string {
	return fmt.Sprintf("the files of %s are %s, but the record of mirror %s (%s) says it mirrors %s: give the %s environment's directory with --primary, or start a new mirror of this one with --rebuild-mirror",
		pair.Primary, r, pair.Mirror, meta.Path(pair.Mirror, meta.RecordFile), recorded.Title(), recorded.Title())
}
