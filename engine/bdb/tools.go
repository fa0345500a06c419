package bdb

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Tools are the paths of the Berkeley DB utilities.
type Tools struct {
	Recover, Verify, Archive, Checkpoint, Printlog string
}

// toolNames are the utilities mirrorctl runs, by their upstream names.
var toolNames = []string{"recover", "verify", "archive", "checkpoint", "printlog"}

// prefixes are the names distributions give the utilities: db_recover, db5.3_recover, ...
var prefixes = []string{"db_", "db5.3_", "db6.2_", "db6.1_", "db6.0_", "db5.1_", "db4.8_", "db18_"}

// EnvUtils is the environment variable that points at the utilities: a directory holding them, or a
// name prefix such as /opt/bdb/bin/db_ or db5.3_.
const EnvUtils = "MIRRORCTL_BDB_UTILS"

// FindTools looks for the utilities: under hint (a directory or a prefix) when given, else on $PATH
// under every name distributions use.
func FindTools(hint string) (Tools, error) {
	var cands []string
	switch {
	case hint == "":
		cands = prefixes
	case isDir(hint):
		for _, p := range prefixes {
			cands = append(cands, filepath.Join(hint, p))
		}
	default:
		cands = []string{hint}
	}
	for _, p := range cands {
		var found []string
		for _, name := range toolNames {
			path, err := exec.LookPath(p + name)
			if err != nil {
				break
			}
			found = append(found, path)
		}
		if len(found) == len(toolNames) {
			return Tools{Recover: found[0], Verify: found[1], Archive: found[2], Checkpoint: found[3], Printlog: found[4]}, nil
		}
	}
	where := "$PATH"
	if hint != "" {
		where = hint
	}
	return Tools{}, fmt.Errorf("no Berkeley DB utilities found (looked for %s in %s): install them with \"apt-get install db-util\" or point %s (or --bdb-utils) at their directory",
		strings.Join([]string{"db_recover", "db5.3_recover", "…"}, ", "), where, EnvUtils)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
