package drill

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOptions_CheckRefusesNonPositiveDurationAndValueSize(t *testing.T) {
	good := Options{Duration: 8 * time.Second, ValueSize: 256}
	if err := good.Check(); err != nil {
		t.Fatalf("Check(%+v) = %v, want nil", good, err)
	}
	for _, c := range []struct {
		name string
		o    Options
		says string
	}{
		{"negative duration", Options{Duration: -time.Second, ValueSize: 256}, "--duration -1s"},
		{"zero duration", Options{Duration: 0, ValueSize: 256}, "--duration 0s"},
		{"negative value size", Options{Duration: time.Second, ValueSize: -5}, "--value-size -5"},
		{"zero value size", Options{Duration: time.Second, ValueSize: 0}, "--value-size 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.o.Check()
			if err == nil || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "give a positive") {
				t.Fatalf("Check() = %v, want an error naming %q and the fix", err, c.says)
			}
		})
	}
}

// entries lists dir's tree as relative paths.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	var got []string
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		got = append(got, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// The invariant: what the drill made in a directory the caller named is removed, and what was there
// before is kept.
func TestMakeScratch_RemovesOnlyWhatItMade(t *testing.T) {
	t.Run("existing directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("mine"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(dir, "disk1"), 0o755); err != nil { // a name the drill uses
			t.Fatal(err)
		}
		before := strings.Join(entries(t, dir), " ")
		base, remove, err := makeScratch(dir)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(base) != dir {
			t.Fatalf("scratch directory %s is not inside %s", base, dir)
		}
		for _, name := range []string{"disk1", "acked.txt", "mount.log"} {
			if err := os.WriteFile(filepath.Join(base, name), []byte("drill"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		remove()
		if after := strings.Join(entries(t, dir), " "); after != before {
			t.Fatalf("after the drill %s holds %q, before %q", dir, after, before)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "keep.txt")); err != nil || string(b) != "mine" {
			t.Fatalf("keep.txt: %q, %v", b, err)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "a", "b")
		base, remove, err := makeScratch(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(base, "acked.txt"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		remove()
		if got := entries(t, parent); len(got) != 1 {
			t.Fatalf("the drill left %q in %s", got, parent)
		}
	})
	t.Run("default", func(t *testing.T) {
		base, remove, err := makeScratch("")
		if err != nil {
			t.Fatal(err)
		}
		remove()
		if _, err := os.Lstat(base); !os.IsNotExist(err) {
			t.Fatalf("scratch directory %s still there: %v", base, err)
		}
	})
}
