package main

import (
	"errors"
	"fmt"

	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/engine/bdb"
	"github.com/mirrorctl/mirrorctl/engine/detect"
	"github.com/urfave/cli/v2"
)

var bdbUtilsFlag = &cli.StringFlag{
	Name:    "bdb-utils",
	Usage:   "directory (or name prefix) of the Berkeley DB utilities, if not db_recover/db5.3_recover on $PATH",
	EnvVars: []string{"MIRRORCTL_BDB_UTILS"},
}

// engineFlag says which engine the primary's files must belong to. For now it only refuses a
// primary whose files are another engine's, or several engines': the mirror serves every engine
// the same way.
var engineFlag = &cli.StringFlag{
	Name:  "engine",
	Value: "auto",
	Usage: "the engine of the primary's files: `auto` (detected from them), bdb, sqlite or lmdb; a primary whose files belong to another engine, or to several, is refused",
}

// engineFor returns the Berkeley DB engine with the utilities the flags point at.
func engineFor(c *cli.Context) (engine.Engine, error) {
	return bdb.New(c.String("bdb-utils"))
}

// checkEngine refuses, before anything is written, a primary whose mirrored files belong to
// several engines, or to another engine than --engine names. A primary with no engine's files yet
// (a new environment) passes whatever --engine says.
func checkEngine(c *cli.Context, ps pairSetup) error {
	want := detect.Kind(c.String("engine"))
	switch want {
	case "auto", detect.BDB, detect.SQLite, detect.LMDB:
	default:
		return usageError("--engine %q is not an engine: give auto, bdb, sqlite or lmdb", want)
	}
	r, err := detect.Detect(ps.pair.Primary, func(rel string) bool { return !ps.policy.Mirrored(rel) })
	var mixed *detect.MixedError
	switch {
	case errors.As(err, &mixed):
		return usageError("%v", err)
	case err != nil:
		return err
	case want == "auto" || r.Kind == detect.None || r.Kind == want:
		return nil
	}
	return usageError("%s", mismatch(ps.pair.Primary, want, r))
}

// mismatch is the refusal of a primary whose files are engine r's when --engine said want.
func mismatch(primary string, want detect.Kind, r detect.Result) string {
	return fmt.Sprintf("--engine %s, but the files of %s are %s: give --engine %s (or auto), or the directory of the %s environment with --primary",
		want, primary, r, r.Kind, want.Title())
}
