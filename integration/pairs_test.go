package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mirrorctl/mirrorctl/mountproc"
	"golang.org/x/sys/unix"
)

// snapshots is treeSnapshot of several trees, keyed by tree: what a refusal must leave unchanged.
func snapshots(t *testing.T, trees ...string) map[string]string {
	t.Helper()
	all := map[string]string{}
	for _, tree := range trees {
		for rel, v := range treeSnapshot(t, tree) {
			all[filepath.Join(tree, rel)] = v
		}
	}
	return all
}

// refused runs a mirrorctl command that must be refused with exit status code and a one-line
// message containing every want, and returns the message.
func refused(t *testing.T, code int, args []string, want ...string) string {
	t.Helper()
	r := mirrorctl(t, args...)
	msg := strings.TrimSpace(r.Stderr)
	if r.Code != code || strings.Contains(msg, "\n") {
		t.Fatalf("mirrorctl %s: want a one-line refusal with exit status %d: %s", strings.Join(args, " "), code, r)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("mirrorctl %s: the refusal does not say %q: %s", strings.Join(args, " "), w, msg)
		}
	}
	return msg
}

// refusedMount starts a mount that must be refused (with exit status code, one line of error naming
// every want) before it serves: if it serves after all, the test's cleanup stops it.
func refusedMount(t *testing.T, code int, primary, mirrorDir, mp string, want ...string) {
	t.Helper()
	m, err := tryMount(t, primary, mirrorDir, mp)
	if err == nil {
		t.Fatalf("mount --primary %s --mirror %s %s was not refused:\n%s", primary, mirrorDir, mp, m.Output())
	}
	var ee *mountproc.ExitedError
	var xe *exec.ExitError
	if !errors.As(err, &ee) || !errors.As(ee.Err, &xe) || xe.ExitCode() != code {
		t.Fatalf("mount --primary %s --mirror %s %s: want a refusal with exit status %d, got %v", primary, mirrorDir, mp, code, err)
	}
	var lines []string
	for _, l := range strings.Split(ee.Output, "\n") {
		if strings.HasPrefix(l, "mirrorctl: ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("want one line of error, got %d:\n%s", len(lines), ee.Output)
	}
	if strings.Contains(ee.Output, "bringing mirror") {
		t.Errorf("a refused mount announced a sync it never started:\n%s", ee.Output)
	}
	for _, w := range want {
		if !strings.Contains(lines[0], w) {
			t.Errorf("the refusal does not say %q: %s", w, lines[0])
		}
	}
}

// One primary, one mount: while a mount serves the primary, a second mount of it with another mirror
// (whose writes would never reach the first mirror) and a sync of it are refused, naming the running
// mount, and change nothing.
func TestMount_OnePrimaryOneMount(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	writeFile(t, filepath.Join(primary, "data.db"), "data")
	m := startMount(t, primary, mirrorDir, mp)
	base := t.TempDir()
	second, mp2 := filepath.Join(base, "mirror2"), filepath.Join(base, "mnt2")
	if err := os.Mkdir(mp2, 0o755); err != nil {
		t.Fatal(err)
	}
	want := []string{"primary " + primary, "already served by a running mount", "pid " + strconv.Itoa(m.PID()), mp, "mirrorctl unmount " + mp}
	before := snapshots(t, primary, mirrorDir, base)
	refusedMount(t, 1, primary, second, mp2, want...)
	sameSnapshot(t, "after a refused second mount", before, snapshots(t, primary, mirrorDir, base))
	refused(t, 1, []string{"sync", "--primary", primary, "--mirror", second}, want...)
	sameSnapshot(t, "after a refused sync", before, snapshots(t, primary, mirrorDir, base))
	m.Stop(t)
	// Once the first mount stopped, the primary may be mounted with the other mirror.
	m2 := startMount(t, primary, second, mp2)
	m2.Stop(t)
	verifyClean(t, primary, second)
}

// A primary or mirror that is, or lies inside, a mirrorctl mount is refused before anything is
// created, saying why: the mount point serves another tree, and a mirror or second mount built on
// it would write through the first mount (the mirror directory and lock were left behind before).
func TestMount_RefusesAMirrorctlMountAsPrimaryOrMirror(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	if err := os.Mkdir(filepath.Join(primary, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(primary, "data.db"), "data")
	m := startMount(t, primary, mirrorDir, mp)
	base := t.TempDir()
	other, otherMirror, mp2 := filepath.Join(base, "other"), filepath.Join(base, "mirror2"), filepath.Join(base, "mnt2")
	for _, d := range []string{other, mp2} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(base, "link-to-mount")
	if err := os.Symlink(mp, link); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, primary, mirror, want string
	}{
		{"primary is the mount point", mp, otherMirror, "primary " + mp + " is the mirrorctl mount " + mp},
		{"primary inside the mount", filepath.Join(mp, "sub"), otherMirror, "lies inside the mirrorctl mount at " + mp},
		{"primary is a link to the mount", link, otherMirror, "is the mirrorctl mount " + mp},
		{"mirror is the mount point", other, mp, "mirror " + mp + " is the mirrorctl mount " + mp},
		{"mirror inside the mount", other, filepath.Join(mp, "m"), "lies inside the mirrorctl mount at " + mp},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := snapshots(t, primary, mirrorDir, base)
			refusedMount(t, 2, c.primary, c.mirror, mp2, c.want, "not a mount point that serves one")
			sameSnapshot(t, "after a refused mount", before, snapshots(t, primary, mirrorDir, base))
			refused(t, 2, []string{"sync", "--primary", c.primary, "--mirror", c.mirror}, c.want)
			sameSnapshot(t, "after a refused sync", before, snapshots(t, primary, mirrorDir, base))
		})
	}
	m.Stop(t)
	verifyClean(t, primary, mirrorDir)
}

// A tree deeper than PATH_MAX (which an application reaches relative to its working directory) is
// no limit: sync copies it whole, verify finds the mirror equal, and a mount serves it.
func TestSync_TreeDeeperThanPathMax(t *testing.T) {
	needFUSE(t)
	base := t.TempDir()
	primary, mirrorDir := filepath.Join(base, "primary"), filepath.Join(base, "mirror")
	if err := os.Mkdir(primary, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(primary, "data.db"), "data")
	fd, err := unix.Open(primary, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("d", 100)
	depth := 0
	for ; depth*101 <= unix.PathMax+101; depth++ {
		if err := unix.Mkdirat(fd, name, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, name, unix.O_DIRECTORY|unix.O_RDONLY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	f, err := unix.Openat(fd, "deepest", unix.O_CREAT|unix.O_WRONLY, 0o644)
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(f, []byte("far"))
	unix.Close(f)
	mustRun(t, "sync", "--no-progress", "--primary", primary, "--mirror", mirrorDir)
	verifyClean(t, primary, mirrorDir)
	b, err := os.ReadFile(filepath.Join(mirrorDir, ".mirrorctl", "mirror.json"))
	if err != nil || strings.Contains(string(b), `"sync_failed": `) {
		t.Errorf("the mirror's record says the sync failed (%v):\n%s", err, b)
	}

	// Through the mount, from a working directory deep inside: read it, change it, and the mirror
	// follows.
	mp := t.TempDir()
	m := startMount(t, primary, mirrorDir, mp)
	sh := exec.Command("bash", "-c", `set -e; cd "$1"; for i in $(seq "$2"); do cd -P "$3"; done; cat deepest ; echo more >> deepest; mkdir sub; mv deepest sub/moved; ls -l sub`,
		"sh", mp, strconv.Itoa(depth), name)
	if out, err := sh.CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "far") {
		t.Fatalf("working %d bytes deep through the mount: %v\n%s", depth*101, err, out)
	}
	m.Stop(t)
	verifyClean(t, primary, mirrorDir)
}
