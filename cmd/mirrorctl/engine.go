package main

import (
	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/engine/bdb"
	"github.com/urfave/cli/v2"
)

var bdbUtilsFlag = &cli.StringFlag{
	Name:    "bdb-utils",
	Usage:   "directory (or name prefix) of the Berkeley DB utilities, if not db_recover/db5.3_recover on $PATH",
	EnvVars: []string{"MIRRORCTL_BDB_UTILS"},
}

// engineFor returns the Berkeley DB engine with the utilities the flags point at.
func engineFor(c *cli.Context) (engine.Engine, error) {
	return bdb.New(c.String("bdb-utils"))
}
