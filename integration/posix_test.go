package integration

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/hanwen/go-fuse/v2/posixtest"
)

// knownDifferences are posixtest cases where mirrorctl deliberately differs from go-fuse's plain
// loopback, with the reason.
var knownDifferences = map[string]string{
	// Both mounts run without go-fuse's EnableLocks, so the kernel keeps POSIX locks local to the
	// mount and this case fails on the plain loopback as well.
	"FcntlFlockLocksFile": "fails on go-fuse's own loopback without EnableLocks",
}

// Tmpfile skips itself on mirrorctl: O_TMPFILE is refused (EOPNOTSUPP), because a file with no
// name cannot be mirrored until linkat, which FUSE does not tie back to it.

// TestPOSIX_SameAsPlainLoopback runs go-fuse's POSIX test table against go-fuse's own loopback and
// against mirrorctl, both mounted as root with allow_other and default_permissions, and requires
// mirrorctl to pass every case the loopback passes; then the mirror must match the primary.
func TestPOSIX_SameAsPlainLoopback(t *testing.T) {
	needFUSE(t)
	names := make([]string, 0, len(posixtest.All))
	for n := range posixtest.All {
		names = append(names, n)
	}
	sort.Strings(names)

	loopDir, loopMnt := t.TempDir(), t.TempDir()
	root, err := fs.NewLoopbackRoot(loopDir)
	if err != nil {
		t.Fatal(err)
	}
	server, err := fs.Mount(loopMnt, root, &fs.Options{MountOptions: fuse.MountOptions{
		AllowOther: true, Options: []string{"default_permissions"}, DirectMount: true, Name: "loopback",
	}})
	if err != nil {
		t.Fatalf("mount go-fuse loopback: %v", err)
	}
	t.Cleanup(func() { server.Unmount() })

	primary, mirrorDir, mp := dirs(t)
	m := startMount(t, primary, mirrorDir, mp)

	loopbackPassed := map[string]bool{}
	t.Run("loopback", func(t *testing.T) {
		for _, n := range names {
			if _, ok := knownDifferences[n]; ok {
				continue
			}
			dir := filepath.Join(loopMnt, n)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			loopbackPassed[n] = t.Run(n, func(t *testing.T) { posixtest.All[n](t, dir) })
		}
	})
	if t.Failed() {
		t.Fatalf("go-fuse's own loopback fails cases not listed in knownDifferences: %v", failed(loopbackPassed))
	}
	for _, n := range names {
		if why, ok := knownDifferences[n]; ok {
			t.Logf("skipping %s on mirrorctl: %s", n, why)
			continue
		}
		dir := filepath.Join(mp, n)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Run("mirrorctl/"+n, func(t *testing.T) { posixtest.All[n](t, dir) })
	}
	m.Stop(t)
	verifyClean(t, primary, mirrorDir)
}

func failed(passed map[string]bool) []string {
	var out []string
	for n, ok := range passed {
		if _, known := knownDifferences[n]; !ok && !known {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
