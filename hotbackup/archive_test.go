package hotbackup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorctl/mirrorctl/meta"
	"github.com/mirrorctl/mirrorctl/mirror"
)

// archiveFixture is base/{primary,mirror} with a pair checked on them and the primary's identity.
func archiveFixture(t *testing.T) (base string, p mirror.Pair, id meta.Identity) {
	t.Helper()
	base = t.TempDir()
	for _, d := range []string{"primary/sub", "mirror/sub", "foreign"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(base, "primary", "data.db"), "pages")
	write(t, filepath.Join(base, "mirror", "data.db"), "pages")
	write(t, filepath.Join(base, "mirror", "sub", "x"), "x")
	write(t, filepath.Join(base, "foreign", "notes.txt"), "mine")
	p, err := mirror.CheckPair(filepath.Join(base, "primary"), filepath.Join(base, "mirror"))
	if err != nil {
		t.Fatal(err)
	}
	if id, err = meta.EnsureIdentity(p.Primary); err != nil {
		t.Fatal(err)
	}
	return base, p, id
}

// TestCheckArchive_RefusesTheTreesAndForeignDirectories checks the archive's invariant: a directory
// that is, contains or lies inside either tree, or that holds what mirrorctl did not write, is
// refused with a message naming the right tree, and nothing is written.
func TestCheckArchive_RefusesTheTreesAndForeignDirectories(t *testing.T) {
	base, p, id := archiveFixture(t)
	other := filepath.Join(base, "other")
	if err := writeArchiveRecord(other, archiveRecord{PrimaryID: "0123456789abcdef", PrimaryPath: "/elsewhere"}); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(p.Primary, filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	ours := filepath.Join(base, "ours")
	if err := writeArchiveRecord(ours, archiveRecord{PrimaryID: id.ID, PrimaryPath: p.Primary}); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(base, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir, want string // want "": accepted
	}{
		{"the primary", p.Primary, "is the primary itself"},
		{"a symlink to the primary", filepath.Join(base, "link"), "is the primary itself"},
		{"inside the primary", filepath.Join(p.Primary, "arch"), "is inside the primary " + p.Primary},
		{"the primary's parent", base, "contains the primary " + p.Primary},
		{"the mirror", p.Mirror, "is the mirror itself"},
		{"the mirror, relative", "../mirror", "is the mirror itself"},
		{"inside the mirror", filepath.Join(p.Mirror, "sub"), "is inside the mirror " + p.Mirror},
		{"a file", filepath.Join(base, "foreign", "notes.txt"), "is not a directory"},
		{"no parent", filepath.Join(base, "none", "arch"), "parent directory does not exist"},
		{"a foreign directory", filepath.Join(base, "foreign"), "not an archive written by mirrorctl"},
		{"another environment's archive", other, "archive of another environment (/elsewhere, id 01234567)"},
		{"new", filepath.Join(base, "new"), ""},
		{"empty", filepath.Join(base, "empty"), ""},
		{"this environment's archive", ours, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(p.Primary)
			got, err := CheckArchive(tc.dir, p)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want == "":
				if !filepath.IsAbs(got) {
					t.Errorf("returned %q, want an absolute path", got)
				}
			case err == nil || !errors.Is(err, ErrBadArchive) || !strings.Contains(err.Error(), tc.want):
				t.Fatalf("got %v, want a refusal saying %q", err, tc.want)
			case strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "give a new or empty directory"):
				t.Errorf("the refusal is not one line with the fix: %q", err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(base, "new")); !os.IsNotExist(err) {
		t.Errorf("the check created the archive: %v", err)
	}
}

// TestArchiveTo_RemovesOnlyWhatItWrote: a re-run removes what it copied before and the mirror no
// longer has, and keeps what someone else put in the archive.
func TestArchiveTo_RemovesOnlyWhatItWrote(t *testing.T) {
	base, p, id := archiveFixture(t)
	arch := filepath.Join(base, "arch")
	ctx := context.Background()
	if err := archiveTo(ctx, p.Mirror, arch, id, p.Primary); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(arch, "sub", "user.txt"), "mine")
	if err := os.Remove(filepath.Join(p.Mirror, "sub", "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckArchive(arch, p); err != nil {
		t.Fatalf("an earlier archive of the same environment is refused: %v", err)
	}
	if err := archiveTo(ctx, p.Mirror, arch, id, p.Primary); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(arch, "sub", "user.txt")); err != nil || string(b) != "mine" {
		t.Errorf("a file mirrorctl did not write was lost: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(arch, "sub", "x")); !os.IsNotExist(err) {
		t.Errorf("a file the mirror no longer has is still in the archive: %v", err)
	}
	if _, err := os.Stat(filepath.Join(arch, "data.db")); err != nil {
		t.Error(err)
	}
}
