package drill

import (
	"fmt"
	"path/filepath"
	"slices"
)

// The engines a drill's workload can use (Options.Workload): the workload, the check of its ledger,
// and the title for the lines the drill says. Each workload is a subcommand of the mirrorctl binary
// (`mirrorctl workload ...`), run in a process of its own on the mount.
const (
	WorkloadBDB    = "bdb"
	WorkloadSQLite = "sqlite"
	WorkloadLMDB   = "lmdb"
)

// Workloads are the engines a drill can use, the default first.
var Workloads = []string{WorkloadBDB, WorkloadSQLite, WorkloadLMDB}

// ParseWorkload reads drill's --engine: auto is the default, Berkeley DB.
func ParseWorkload(s string) (string, error) {
	if s == "" || s == "auto" {
		return WorkloadBDB, nil
	}
	if slices.Contains(Workloads, s) {
		return s, nil
	}
	return "", fmt.Errorf("--engine %q: use bdb (the default), sqlite or lmdb", s)
}

func (o Options) workload() string {
	if o.Workload == "" {
		return WorkloadBDB
	}
	return o.Workload
}

// engineTitle is the workload's engine for people.
func (o Options) engineTitle() string {
	switch o.workload() {
	case WorkloadSQLite:
		return "SQLite"
	case WorkloadLMDB:
		return "LMDB"
	}
	return "Berkeley DB"
}

// checkWorkload refuses what a workload's engine cannot be drilled with: a machine loss restores
// from the archive, which keeps a log history only Berkeley DB has.
func (o Options) checkWorkload() error {
	if _, err := ParseWorkload(o.Workload); err != nil {
		return err
	}
	if o.Lose != "" && o.workload() != WorkloadBDB {
		return fmt.Errorf("--lose machine restores from the archive, which keeps a log history, and %s has none: drill %s with --kill", o.engineTitle(), o.engineTitle())
	}
	return nil
}

// workloadArgs is the command line of the workload on the mount.
func (d *drill) workloadArgs() []string {
	vs := fmt.Sprint(d.o.ValueSize)
	switch d.o.workload() {
	case WorkloadSQLite:
		return []string{"workload", "sqlite", "run", "--dir", d.mp, "--value-size", vs}
	case WorkloadLMDB:
		return []string{"workload", "lmdb", "run", "--dir", d.mp, "--value-size", vs}
	}
	return []string{"workload", "run", "--dir", d.mp, "--value-size", vs, "--log-size", fmt.Sprint(1 << 20), "--checkpoint-every", "500"}
}

// checkArgs is the command line of the check of every acknowledged commit on dir.
func (d *drill) checkArgs(dir string) []string {
	args := []string{"workload", "check"}
	switch d.o.workload() {
	case WorkloadSQLite:
		args = []string{"workload", "sqlite", "check"}
	case WorkloadLMDB:
		args = []string{"workload", "lmdb", "check"}
	}
	return append(args, "--dir", filepath.Clean(dir), "--acked", d.ackedPath, "--value-size", fmt.Sprint(d.o.ValueSize))
}

// comparison says whether the drill times a catastrophic recovery: only an engine with a log
// history (Berkeley DB) has one.
func (o Options) comparison() bool {
	return !o.NoComparison && o.workload() == WorkloadBDB && o.Engine != nil
}
