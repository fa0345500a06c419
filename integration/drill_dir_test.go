package integration

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDrill_DirKeepsOnlyWhatWasThere: a drill given --dir removes everything it made there (as the
// help says) and leaves what the directory held before.
func TestDrill_DirKeepsOnlyWhatWasThere(t *testing.T) {
	needFUSE(t)
	needBDB(t)
	dir := t.TempDir()
	keep := filepath.Join(dir, "keep.txt")
	if err := os.WriteFile(keep, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "drill", "--json", "--kill", "mount", "--duration", "2s", "--dir", dir)
	got, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name() != "keep.txt" {
		var names []string
		for _, e := range got {
			names = append(names, e.Name())
		}
		t.Fatalf("after the drill %s holds %q, want only keep.txt", dir, names)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "mine" {
		t.Fatalf("keep.txt: %q, %v", b, err)
	}
}
