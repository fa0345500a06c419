package main

import (
	"fmt"
	"io"
	"time"

	"github.com/mirrorctl/mirrorctl/drill"
	"github.com/urfave/cli/v2"
)

// drillEngineFlag is drill's --engine: the engine of the workload. A drill makes its own environment,
// so there are no files to detect: auto is Berkeley DB, the default (what make demo runs).
var drillEngineFlag = &cli.StringFlag{
	Name:  "engine",
	Value: "bdb",
	Usage: "the engine of the workload: `bdb` (Berkeley DB, the default; auto says the same), sqlite (a WAL and a rollback-journal database) or lmdb",
}

// drillEngine sets what the drill's engine needs: for Berkeley DB, the engine with its utilities
// (promote's recovery and the catastrophic comparison use them), checked to be there. SQLite and LMDB
// are linked into the binary.
func drillEngine(c *cli.Context, o *drill.Options) error {
	if o.Workload != drill.WorkloadBDB {
		return nil
	}
	var err error
	if o.Engine, err = bdbEngine(c); err != nil {
		return err
	}
	return o.Engine.Available()
}

// printDrillPromote prints the promote line of a drill whose engine has no log history (SQLite,
// LMDB), and reports whether it did.
func printDrillPromote(w io.Writer, r drill.Result) bool {
	if r.Engine == "" || r.Engine == drill.WorkloadBDB {
		return false
	}
	what := "each database opened, checked (integrity_check) and checkpointed"
	if r.Engine == drill.WorkloadLMDB {
		what = "the environment opened and read through"
	}
	fmt.Fprintf(w, "  %-24s %s (%s: %s; no log history, so no catastrophic recovery to compare)\n",
		"promote time", r.PromoteTime.Round(time.Millisecond), r.EngineTitle, what)
	return true
}
