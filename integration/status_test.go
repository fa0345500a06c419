package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// exactSnapshot records every entry under dir with its mode, size, modification time and, for a
// file, the SHA-256 of its content: a command that only reads leaves all of it as it was.
func exactSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		v := info.Mode().String() + " " + info.ModTime().UTC().Format("2006-01-02T15:04:05.000000000")
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			v += " " + hex.EncodeToString(sum[:])
		}
		snap[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// sameExactSnapshot fails the test for every entry changed, added or removed.
func sameExactSnapshot(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if a, ok := after[k]; !ok {
			t.Errorf("%s: %s removed", what, k)
		} else if a != v {
			t.Errorf("%s: %s changed: %q -> %q", what, k, v, a)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s: %s created", what, k)
		}
	}
}

// TestStatus_ReadingCommandsNeverWrite runs status, verify and promote --dry-run on a plain Berkeley
// DB environment (never touched by mirrorctl) and on a synced pair, and checks that not one byte or
// modification time changed: a command that only reads never writes (the engine's utilities, run on
// an environment, rewrite its region files __db.*).
func TestStatus_ReadingCommandsNeverWrite(t *testing.T) {
	needBDB(t)
	base := t.TempDir()
	plain, primary, mirrorDir := filepath.Join(base, "plain"), filepath.Join(base, "primary"), filepath.Join(base, "mirror")
	for _, d := range []string{plain, primary, mirrorDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	acked := filepath.Join(base, "acked")
	workloadRun(t, plain, acked, "--txns", "200", "--checkpoint-every", "50", "--log-size", "65536")
	workloadRun(t, primary, acked, "--txns", "200", "--checkpoint-every", "50", "--log-size", "65536")
	mustRun(t, "sync", "--primary", primary, "--mirror", mirrorDir)
	if _, err := os.Stat(filepath.Join(plain, "__db.001")); err != nil {
		t.Fatalf("the plain environment has no region files, the test proves nothing: %v", err)
	}

	cases := []struct {
		name string
		args []string
	}{
		{"status of a plain environment", []string{"status", "--mirror", plain}},
		{"status --json of a plain environment", []string{"status", "--json", "--mirror", plain, "--primary", plain}},
		{"promote --dry-run of a plain environment", []string{"promote", "--dry-run", "--mirror", plain}},
		{"status of a synced mirror", []string{"status", "--mirror", mirrorDir, "--primary", primary}},
		{"verify of a synced pair", []string{"verify", "--primary", primary, "--mirror", mirrorDir}},
		{"promote --dry-run of a synced pair", []string{"promote", "--dry-run", "--catastrophic", "--mirror", mirrorDir, "--primary", primary}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := map[string]map[string]string{}
			for _, d := range []string{plain, primary, mirrorDir} {
				before[d] = exactSnapshot(t, d)
			}
			r := mirrorctl(t, c.args...)
			t.Logf("mirrorctl %s: %s", strings.Join(c.args, " "), r)
			for _, d := range []string{plain, primary, mirrorDir} {
				sameExactSnapshot(t, c.name+": "+filepath.Base(d), before[d], exactSnapshot(t, d))
			}
		})
	}
}
