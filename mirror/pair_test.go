package mirror

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorctl/mirrorctl/meta"
)

// A corrupt degraded marker must stop Open: serving on would lose the list of paths to resync.
func TestOpen_CorruptDegradedMarkerRefused(t *testing.T) {
	base := t.TempDir()
	primary, target := filepath.Join(base, "p"), filepath.Join(base, "m")
	writeFile(t, meta.Path(primary, meta.DegradedFile), []byte(`{"since":"2026-01-01T00:00:00Z","dirty":["a"`))
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := Open(primary, target, testPolicy(t), Options{})
	if err == nil {
		m.Close()
		t.Fatal("Open succeeded with a corrupt degraded.json")
	}
	if !errors.Is(err, meta.ErrCorruptMeta) || !strings.Contains(err.Error(), meta.DegradedFile) {
		t.Errorf("Open = %v; want meta.ErrCorruptMeta naming %s", err, meta.DegradedFile)
	}
}

// claimFixture makes a primary with an identity and a mirror that records it, like a finished sync.
type claimFixture struct {
	pair      Pair
	primaryID meta.Identity
}

func newClaimFixture(t *testing.T) claimFixture {
	t.Helper()
	base := t.TempDir()
	primary, target := filepath.Join(base, "primary"), filepath.Join(base, "mirror")
	for _, d := range []string{primary, target} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	id, err := meta.EnsureIdentity(primary)
	if err != nil {
		t.Fatal(err)
	}
	if err := meta.WriteRecord(target, meta.Record{PrimaryID: id.ID, PrimaryPath: primary, Generation: id.Generation, State: meta.StateInSync, Clean: true}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(target, "data.db"), []byte("mirrored"))
	p, err := CheckPair(primary, target)
	if err != nil {
		t.Fatal(err)
	}
	return claimFixture{pair: p, primaryID: id}
}

func TestClaim_RefusalTable(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(t *testing.T, f claimFixture)
		want   string // in the refusal; "" when Claim must accept
	}{
		{name: "its own mirror", mutate: func(*testing.T, claimFixture) {}},
		{name: "a fresh empty mirror", mutate: func(t *testing.T, f claimFixture) {
			clearDir(t, f.pair.Mirror)
		}},
		{name: "a mirror with only a metadata area", mutate: func(t *testing.T, f claimFixture) {
			clearDir(t, f.pair.Mirror)
			writeFile(t, filepath.Join(f.pair.Mirror, meta.Dir, "lock"), nil)
		}},
		{name: "another primary's mirror", want: "belongs to another primary", mutate: func(t *testing.T, f claimFixture) {
			rec, _, _ := meta.ReadRecord(f.pair.Mirror)
			rec.PrimaryID = "ffffffffffffffffffffffffffffffff"
			if err := meta.WriteRecord(f.pair.Mirror, rec); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a primary without identity onto someone's mirror", want: "no mirrorctl identity", mutate: func(t *testing.T, f claimFixture) {
			if err := os.RemoveAll(filepath.Join(f.pair.Primary, meta.Dir)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a primary without identity onto someone's mirror names the owner", want: "belongs to another primary", mutate: func(t *testing.T, f claimFixture) {
			if err := os.RemoveAll(filepath.Join(f.pair.Primary, meta.Dir)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a promoted mirror", want: "promoted environment", mutate: func(t *testing.T, f claimFixture) {
			rec, _, _ := meta.ReadRecord(f.pair.Mirror)
			rec.State = meta.StatePromoted
			if err := meta.WriteRecord(f.pair.Mirror, rec); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "an environment with an identity and no record", want: "promoted environment", mutate: func(t *testing.T, f claimFixture) {
			if err := os.Remove(meta.Path(f.pair.Mirror, meta.RecordFile)); err != nil {
				t.Fatal(err)
			}
			if err := meta.WriteIdentity(f.pair.Mirror, meta.NewGeneration(f.primaryID, f.primaryID.ID)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a superseded primary", want: "superseded", mutate: func(t *testing.T, f claimFixture) {
			id := f.primaryID
			id.SupersededBy = "2"
			if err := meta.WriteIdentity(f.pair.Primary, id); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a non-empty directory that never was a mirror", want: "never a mirrorctl mirror", mutate: func(t *testing.T, f claimFixture) {
			if err := os.Remove(meta.Path(f.pair.Mirror, meta.RecordFile)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newClaimFixture(t)
			c.mutate(t, f)
			before := snapshot(t, filepath.Dir(f.pair.Primary))
			_, _, err := Claim(f.pair, ClaimOptions{})
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Claim refused: %v", err)
			case c.want != "" && (!errors.Is(err, ErrBadPair) || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("Claim = %v; want a refusal (ErrBadPair) saying %q", err, c.want)
			case c.want != "" && !strings.Contains(err.Error(), "--rebuild-mirror"):
				t.Errorf("the refusal %q does not say how to override it", err)
			}
			if _, _, err := Claim(f.pair, ClaimOptions{Rebuild: true}); err != nil {
				t.Errorf("Claim with Rebuild = %v; want it to accept", err)
			}
			if after := snapshot(t, filepath.Dir(f.pair.Primary)); after != before {
				t.Errorf("Claim wrote something:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

func TestCheckPair_Table(t *testing.T) {
	base, other := t.TempDir(), t.TempDir()
	p := filepath.Join(base, "primary")
	writeFile(t, filepath.Join(p, "env.db"), nil)
	writeFile(t, filepath.Join(base, "file"), nil)
	if err := os.Mkdir(filepath.Join(base, "outer"), 0o755); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"to-primary":     p,
		"to-primary-sub": filepath.Join(p, "sub"),
		"to-outer":       filepath.Join(base, "outer"),
		"to-file":        filepath.Join(base, "file"),
		"to-nowhere":     filepath.Join(base, "nowhere"),
	} {
		if err := os.Symlink(target, filepath.Join(other, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(p, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	// outer/primary-link is the primary under another name, inside "outer".
	if err := os.Symlink(p, filepath.Join(base, "outer", "primary-link")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name            string
		primary, mirror string
		want            string // in the refusal; "" when accepted
	}{
		{"fine, mirror exists", p, other, ""},
		{"fine, mirror to be created", p, filepath.Join(other, "new"), ""},
		{"no primary given", "", other, "both --primary and --mirror"},
		{"no mirror given", p, "", "both --primary and --mirror"},
		{"missing primary", filepath.Join(base, "nope"), other, "give the environment directory of the database with --primary"},
		{"primary is a file", filepath.Join(base, "file"), other, "is not a directory"},
		{"primary is a symlink to a file", filepath.Join(other, "to-file"), filepath.Join(other, "m"), "is not a directory"},
		{"mirror is a file", p, filepath.Join(base, "file"), "exists and is not a directory"},
		{"mirror parent missing", p, filepath.Join(other, "no", "such"), "parent directory does not exist"},
		{"same directory", p, p, "same directory"},
		{"same directory with a trailing slash", p, p + "/", "same directory"},
		{"same directory through a symlink", p, filepath.Join(other, "to-primary"), "same directory"},
		{"same directory through a symlinked primary", filepath.Join(other, "to-primary"), p, "same directory"},
		{"mirror inside the primary", p, filepath.Join(p, "sub"), "inside the primary"},
		{"mirror to be created inside the primary", p, filepath.Join(p, "new"), "inside the primary"},
		{"mirror inside the primary through a symlink", p, filepath.Join(other, "to-primary-sub"), "inside the primary"},
		{"mirror to be created below a symlink to the primary", p, filepath.Join(other, "to-primary", "new"), "inside the primary"},
		{"primary inside the mirror", p, base, "inside the mirror"},
		{"primary inside the mirror through a symlink", filepath.Join(base, "outer", "primary-link", "sub"), filepath.Join(base, "primary"), "inside the mirror"},
		{"primary through a symlink inside the mirror", filepath.Join(other, "to-primary-sub"), p, "inside the mirror"},
		{"a name that only shares a prefix", p, p + "-mirror", ""},
		{"mirror is a dangling symlink", p, filepath.Join(other, "to-nowhere"), "symbolic link to " + filepath.Join(base, "nowhere") + ", which does not exist"},
		{"primary is a dangling symlink", filepath.Join(other, "to-nowhere"), filepath.Join(other, "m"), "symbolic link to " + filepath.Join(base, "nowhere") + ", which does not exist"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pair, err := CheckPair(c.primary, c.mirror)
			if c.want == "" {
				if err != nil {
					t.Fatalf("CheckPair(%q, %q) = %v; want it accepted", c.primary, c.mirror, err)
				}
				if !filepath.IsAbs(pair.Primary) || !filepath.IsAbs(pair.Mirror) || !pair.SameFileSystem {
					t.Errorf("pair = %+v; want absolute paths on one file system", pair)
				}
				if _, statErr := os.Stat(c.mirror); pair.MirrorExists != (statErr == nil) {
					t.Errorf("MirrorExists = %v; stat says %v", pair.MirrorExists, statErr)
				}
				return
			}
			if !errors.Is(err, ErrBadPair) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("CheckPair(%q, %q) = %v; want a refusal saying %q", c.primary, c.mirror, err, c.want)
			}
		})
	}
}
