package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const nobody = 65534

// asNobody runs a shell command as uid/gid 65534.
func asNobody(script string, args ...string) (string, error) {
	cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestMount_OtherUsersWithKernelPermissions: the mount (as root) lets a service user in, the kernel
// checks permissions, and ownership, modes and times are the same on both disks and through the mount.
func TestMount_OtherUsersWithKernelPermissions(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	for _, d := range []string{primary, mirrorDir, mp, filepath.Dir(primary), filepath.Dir(filepath.Dir(primary))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	svc := filepath.Join(primary, "svc")
	if err := os.Mkdir(svc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(svc, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(primary, "root-only"), "root's")
	m := startMount(t, primary, mirrorDir, mp)

	if out, err := asNobody(`echo service > "$1/svc/mine" && mkdir "$1/svc/sub" && chmod 0640 "$1/svc/mine" && touch -d @1500000000 "$1/svc/mine"`, mp); err != nil {
		t.Fatalf("the service user cannot work in its own directory through the mount: %v: %s", err, out)
	}
	if out, err := asNobody(`echo x >> "$1/root-only"`, mp); err == nil || !strings.Contains(out, "Permission denied") {
		t.Fatalf("the kernel let the service user write a root-owned 0644 file: %v: %s", err, out)
	}
	if out, err := asNobody(`touch "$1/new-in-root"`, mp); err == nil {
		t.Fatalf("the service user created a file in a root-owned directory: %s", out)
	}
	m.Stop(t)
	for _, side := range []string{primary, mirrorDir} {
		for _, rel := range []string{"svc/mine", "svc/sub"} {
			st, err := os.Stat(filepath.Join(side, rel))
			if err != nil {
				t.Fatal(err)
			}
			sys := st.Sys().(*syscall.Stat_t)
			if sys.Uid != nobody || sys.Gid != nobody {
				t.Errorf("%s/%s belongs to %d:%d, want the service user", side, rel, sys.Uid, sys.Gid)
			}
		}
	}
	p, _ := os.Stat(filepath.Join(primary, "svc/mine"))
	q, _ := os.Stat(filepath.Join(mirrorDir, "svc/mine"))
	if p.Mode() != q.Mode() || p.Mode().Perm() != 0o640 {
		t.Errorf("modes: primary %v, mirror %v, want -rw-r-----", p.Mode(), q.Mode())
	}
	if !p.ModTime().Equal(q.ModTime()) || !p.ModTime().Equal(time.Unix(1500000000, 0)) {
		t.Errorf("mtimes: primary %v, mirror %v", p.ModTime(), q.ModTime())
	}
	verifyClean(t, primary, mirrorDir)
}

// TestMount_BerkeleyDBMirrorOpensAlone runs a transactional environment with synchronous commits
// through the mount; after a clean stop the mirror alone opens and holds every committed record.
func TestMount_BerkeleyDBMirrorOpensAlone(t *testing.T) {
	primary, mirrorDir, mp, acked := workloadDirs(t)
	m := startMount(t, primary, mirrorDir, mp)
	workloadRun(t, mp, acked, "--txns", "1000", "--log-size", "65536", "--checkpoint-every", "200")
	m.Stop(t)
	verifyClean(t, primary, mirrorDir)
	if matches, _ := filepath.Glob(filepath.Join(mirrorDir, "__db.*")); len(matches) != 0 {
		t.Fatalf("region files reached the mirror: %v", matches)
	}
	workloadCheck(t, mirrorDir, acked)
	dbVerify(t, mirrorDir)
}
