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

// TestVerify_FailsOnCorruptMetadata: a pair whose files match but whose metadata is corrupt (or in a
// state no mirrorctl writes, or of a newer mirrorctl) does not pass verify: the next mount, sync or
// promote would refuse it. The one-line message names the file and the fix, and nothing changes.
func TestVerify_FailsOnCorruptMetadata(t *testing.T) {
	cases := []struct {
		name, side, file, content, says string
	}{
		{"corrupt record", "mirror", "mirror.json", `{"version":1,"prim`, "rebuild the mirror"},
		{"record in an unknown state", "mirror", "mirror.json", `{"version":1,"primary_id":"x","state":"half-done"}`, `unknown state "half-done"`},
		{"record of a newer mirrorctl", "mirror", "mirror.json", `{"version":9,"primary_id":"x","state":"in-sync"}`, "upgrade mirrorctl"},
		{"corrupt identity of the primary", "primary", "identity.json", `{"id":`, "rebuild the mirror"},
		{"corrupt degraded marker", "primary", "degraded.json", `{"since":"`, "rebuild the mirror"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := t.TempDir()
			dirs := map[string]string{"primary": filepath.Join(base, "primary"), "mirror": filepath.Join(base, "mirror")}
			for _, d := range dirs {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			writeFile(t, filepath.Join(dirs["primary"], "data.db"), strings.Repeat("x", 1000))
			mustRun(t, "sync", "--primary", dirs["primary"], "--mirror", dirs["mirror"])
			bad := filepath.Join(dirs[c.side], ".mirrorctl", c.file)
			writeFile(t, bad, c.content)
			before := exactSnapshot(t, base)
			r := mirrorctl(t, "verify", "--primary", dirs["primary"], "--mirror", dirs["mirror"])
			msg := strings.TrimSpace(r.Stderr)
			if r.Code != 1 || !strings.Contains(msg, bad) || !strings.Contains(msg, c.says) || strings.Contains(msg, "\n") {
				t.Errorf("verify with %s: want exit 1 and one line naming %s and saying %q: %s", c.name, bad, c.says, r)
			}
			if strings.Contains(r.Stdout, "matches") {
				t.Errorf("verify with %s says the pair matches: %s", c.name, r)
			}
			sameSnapshot(t, "verify with "+c.name, before, exactSnapshot(t, base))
		})
	}
}
