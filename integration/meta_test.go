package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// reAdvice is the fix that a corrupt metadata file's message gives: where to move the file, and the
// command to run then.
var reAdvice = regexp.MustCompile(`move it aside \(to ([^)]+)\), then rebuild the mirror: (mirrorctl [^\n]+)$`)

// TestMeta_CorruptFileAdviceWorksAsWritten corrupts each metadata file of a synced pair, takes the fix
// from the refusal and follows it to the letter: afterwards the mirror matches its primary again.
func TestMeta_CorruptFileAdviceWorksAsWritten(t *testing.T) {
	cases := []struct {
		name string
		file func(primary, mirrorDir string) string
	}{
		{"mirror's record", func(_, m string) string { return filepath.Join(m, ".mirrorctl", "mirror.json") }},
		{"primary's identity", func(p, _ string) string { return filepath.Join(p, ".mirrorctl", "identity.json") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := t.TempDir()
			primary, mirrorDir := filepath.Join(base, "primary"), filepath.Join(base, "mirror")
			for _, d := range []string{primary, mirrorDir} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			writeFile(t, filepath.Join(primary, "data.db"), strings.Repeat("x", 10000))
			mustRun(t, "sync", "--primary", primary, "--mirror", mirrorDir)
			writeFile(t, filepath.Join(primary, "data.db"), "changed since")
			bad := c.file(primary, mirrorDir)
			writeFile(t, bad, `{"version":1,"prim`)

			r := mirrorctl(t, "sync", "--primary", primary, "--mirror", mirrorDir)
			msg := strings.TrimSpace(r.Stderr)
			m := reAdvice.FindStringSubmatch(msg)
			if r.Code == 0 || !strings.Contains(msg, bad) || m == nil {
				t.Fatalf("sync with a corrupt %s: want a refusal naming it and the fix: %s", bad, r)
			}
			if err := os.Rename(bad, filepath.Join(filepath.Dir(bad), m[1])); err != nil {
				t.Fatal(err)
			}
			cmd := strings.NewReplacer("PRIMARY", primary, "MIRROR", mirrorDir).Replace(m[2])
			args := strings.Fields(cmd)[1:]
			if r := mirrorctl(t, args...); r.Code != 0 {
				t.Fatalf("the advice %q, followed as written, failed: %s", cmd, r)
			}
			verifyClean(t, primary, mirrorDir)
		})
	}
}
