package integration

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestMount_WarnsWhenAnExclusionHidesDatabases: `--exclude '*.db'` gives a mirror that says in
// sync and holds no database; the mount says so, in one line, and serves.
func TestMount_WarnsWhenAnExclusionHidesDatabases(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	writeFile(t, filepath.Join(primary, "accounts.db"), "x")
	m := startMount(t, primary, mirrorDir, mp, "--exclude", "*.db")
	var warnings []string
	for _, l := range strings.Split(m.Output(), "\n") {
		if strings.HasPrefix(l, "warning: ") {
			warnings = append(warnings, l)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `--exclude "*.db"`) || !strings.Contains(warnings[0], "accounts.db") {
		t.Fatalf("mount output: want one warning naming the pattern and accounts.db:\n%s", m.Output())
	}
	m.Stop(t)
}
