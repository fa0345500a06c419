package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// archiveEnv makes base/primary, a Berkeley DB environment with a few commits, and base/q/mirror, its
// mirror after a first sync (so that the mirror's parent is not the primary's). base has symlinks
// resolved, as the messages print it.
func archiveEnv(t *testing.T) (base, primary, mirrorDir string) {
	t.Helper()
	needBDB(t)
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	primary, mirrorDir = filepath.Join(base, "primary"), filepath.Join(base, "q", "mirror")
	for _, d := range []string{primary, mirrorDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	workloadRun(t, primary, filepath.Join(t.TempDir(), "acked"), "--txns", "20", "--log-size", "65536", "--checkpoint-every", "0")
	mustRun(t, "sync", "--primary", primary, "--mirror", mirrorDir)
	return base, primary, mirrorDir
}

// TestSync_ArchiveRefusals checks every refusal of sync --archive DIR: a DIR that is, contains or lies
// inside the primary or the mirror, a non-empty directory mirrorctl did not write, and the archive of
// another environment. Each is a one-line usage error (exit 2) that names the right tree and the fix,
// and changes nothing on disk: the primary, the mirror and DIR stay byte for byte as they were.
func TestSync_ArchiveRefusals(t *testing.T) {
	base, primary, mirrorDir := archiveEnv(t)
	foreign := filepath.Join(base, "foreign")
	if err := os.Mkdir(foreign, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(foreign, "notes.txt"), "the user's own file")
	// The archive of another environment, written by mirrorctl.
	otherPrimary, otherMirror, otherArchive := filepath.Join(base, "other", "primary"), filepath.Join(base, "other", "mirror"), filepath.Join(base, "other", "archive")
	if err := os.MkdirAll(otherPrimary, 0o755); err != nil {
		t.Fatal(err)
	}
	workloadRun(t, otherPrimary, filepath.Join(t.TempDir(), "acked"), "--txns", "5", "--log-size", "65536", "--checkpoint-every", "0")
	mustRun(t, "sync", "--primary", otherPrimary, "--mirror", otherMirror)
	mustRun(t, "sync", "--primary", otherPrimary, "--mirror", otherMirror, "--archive", otherArchive)
	if err := os.Symlink(primary, filepath.Join(base, "link-to-primary")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, archive, want string
		extra               []string
	}{
		{name: "the primary", archive: primary, want: "archive " + primary + " is the primary itself"},
		{name: "a symlink to the primary", archive: filepath.Join(base, "link-to-primary"), want: "archive " + primary + " is the primary itself"},
		{name: "inside the primary", archive: filepath.Join(primary, "arch"), want: "is inside the primary " + primary},
		{name: "the primary's parent", archive: base, want: "archive " + base + " contains the primary " + primary},
		{name: "the mirror", archive: mirrorDir, want: "archive " + mirrorDir + " is the mirror itself"},
		{name: "the mirror, relative", archive: "q/../q/mirror", want: "archive " + mirrorDir + " is the mirror itself"},
		{name: "inside the mirror", archive: filepath.Join(mirrorDir, "arch"), want: "is inside the mirror " + mirrorDir},
		{name: "the mirror's parent", archive: filepath.Join(base, "q"), want: "contains the mirror " + mirrorDir},
		{name: "a non-empty directory", archive: foreign, want: "is not empty and is not an archive written by mirrorctl"},
		{name: "another environment's archive", archive: otherArchive, want: "is the archive of another environment (" + otherPrimary},
		{name: "a new directory with --files", archive: filepath.Join(base, "arch"), want: "--archive is the last step of", extra: []string{"--files"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := treeSnapshot(t, base)
			args := append([]string{"sync", "--primary", primary, "--mirror", mirrorDir, "--archive", tc.archive}, tc.extra...)
			t.Chdir(base) // for the relative DIR
			r := mirrorctl(t, args...)
			sameSnapshot(t, "after a refused sync --archive", before, treeSnapshot(t, base))
			if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) {
				t.Fatalf("want a usage error (exit 2) saying %q: %s", tc.want, r)
			}
			if msg := strings.TrimSpace(r.Stderr); strings.Contains(msg, "\n") {
				t.Errorf("the refusal is not one line: %q", msg)
			}
			if len(tc.extra) == 0 && !strings.Contains(r.Stderr, "give a new or empty directory outside both trees") {
				t.Errorf("the refusal does not say what to do: %q", r.Stderr)
			}
			for _, swapped := range []string{"primary " + mirrorDir, "mirror " + tc.archive, "mirror " + primary} {
				if strings.Contains(r.Stderr, swapped+" ") || strings.Contains(r.Stderr, swapped+":") {
					t.Errorf("the refusal gives a tree the wrong name (%q): %q", swapped, r.Stderr)
				}
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(foreign, "notes.txt")); err != nil || string(b) != "the user's own file" {
		t.Errorf("the user's file in a refused archive directory: %q, %v", b, err)
	}
}

// TestSync_ArchiveRerun: a new archive is made; the next sync --archive to it is accepted (it is an
// earlier archive of the same environment), brings it up to date, and keeps a file that mirrorctl
// did not write there.
func TestSync_ArchiveRerun(t *testing.T) {
	base, primary, mirrorDir := archiveEnv(t)
	archive := filepath.Join(base, "archive")
	mustRun(t, "sync", "--primary", primary, "--mirror", mirrorDir, "--archive", archive)
	for _, rel := range []string{"accounts.db", "history.db"} {
		if _, err := os.Stat(filepath.Join(archive, rel)); err != nil {
			t.Fatalf("the archive lacks %s: %v", rel, err)
		}
	}
	writeFile(t, filepath.Join(archive, "README.txt"), "kept by the operator")
	workloadRun(t, primary, filepath.Join(t.TempDir(), "more"), "--txns", "20", "--start", "900000000", "--log-size", "65536", "--checkpoint-every", "0", "--no-recover")
	mustRun(t, "sync", "--primary", primary, "--mirror", mirrorDir, "--archive", archive)
	mustRun(t, "sync", "--primary", primary, "--mirror", mirrorDir, "--archive", archive, "--recover")
	if b, err := os.ReadFile(filepath.Join(archive, "README.txt")); err != nil || string(b) != "kept by the operator" {
		t.Errorf("a re-run lost a file mirrorctl did not write: %q, %v", b, err)
	}
	// The archive holds what the mirror holds, file for file (the metadata aside).
	mirrorSnap, archiveSnap := treeSnapshot(t, mirrorDir), treeSnapshot(t, archive)
	for rel, v := range mirrorSnap {
		if rel == "." || rel == ".mirrorctl" || strings.HasPrefix(rel, ".mirrorctl/") {
			continue
		}
		if archiveSnap[rel] != v {
			t.Errorf("archive %s: %q, mirror: %q", rel, archiveSnap[rel], v)
		}
	}
	if _, err := os.Stat(filepath.Join(archive, ".mirrorctl", "archive.json")); err != nil {
		t.Errorf("the archive has no record of whose it is: %v", err)
	}
}
