package integration

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/control"
)

// runAs runs a program as uid/gid uid with a bare environment (no XDG_RUNTIME_DIR of the test's
// user), and returns its combined output.
func runAs(uid uint32, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// openToNobody lets user nobody reach the mount point and run the test's mirrorctl binary.
func openToNobody(t *testing.T, mp string) {
	t.Helper()
	for d := mp; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
}

// liveSocket finds the control socket of the mount at mp, as root sees it.
func liveSocket(t *testing.T, mp string) string {
	t.Helper()
	real, err := filepath.EvalSymlinks(mp)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := control.Locate(real)
	if !ok {
		t.Fatalf("no control socket found for the mount at %s", real)
	}
	return s.Path
}

// TestControl_OnlyRootAndOwner: user nobody can neither read the status of root's mount nor start a
// resync through its control socket, even when the socket's mode is widened (the check of the
// peer's credentials holds alone); root can do both.
func TestControl_OnlyRootAndOwner(t *testing.T) {
	needFUSE(t)
	needTool(t, "curl")
	primary, mirrorDir, mp := dirs(t)
	openToNobody(t, mp)
	writeFile(t, filepath.Join(primary, "data.db"), "data")
	m := startMount(t, primary, mirrorDir, mp)
	sock := liveSocket(t, mp)

	st, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("control socket %s is mode %v, want -rw-------", sock, st.Mode().Perm())
	}
	info := strings.TrimSuffix(sock, ".sock") + ".json"
	if st, err := os.Stat(info); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("info file %s: %v, %v; want mode -rw-------", info, st.Mode(), err)
	}

	tryAsNobody := func(label string) {
		t.Helper()
		for _, req := range [][]string{
			{"-sS", "--max-time", "10", "--unix-socket", sock, "http://mirrorctl/status"},
			{"-sS", "--max-time", "10", "--unix-socket", sock, "-X", "POST", "http://mirrorctl/resync"},
		} {
			out, _ := runAs(nobody, "curl", req...)
			if strings.Contains(out, primary) || strings.Contains(out, `"state"`) || strings.Contains(out, "paths") {
				t.Errorf("%s: nobody's %v was answered: %s", label, req, out)
			}
		}
	}
	tryAsNobody("socket as created")
	// The same with the socket's mode widened, as it was before (0777): the peer check alone refuses.
	if err := os.Chmod(sock, 0o777); err != nil {
		t.Fatal(err)
	}
	tryAsNobody("socket mode 0777")
	out, _ := runAs(nobody, "curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", sock, "-X", "POST", "http://mirrorctl/resync")
	if out != "403" {
		t.Errorf("nobody's POST /resync on a 0777 socket: HTTP %q, want 403", out)
	}

	// Root is answered, and no resync was started by nobody.
	r := mustRun(t, "status", "--json", mp)
	var rep struct {
		Primary string          `json:"primary"`
		Resync  json.RawMessage `json:"last_resync"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("status --json: %v: %s", err, r.Stdout)
	}
	if rep.Primary != primary {
		t.Errorf("root's status names primary %q, want %s", rep.Primary, primary)
	}
	if len(rep.Resync) != 0 {
		t.Errorf("a resync ran after nobody asked for one: %s", rep.Resync)
	}
	// Root's resync reaches the mount, which answers that an in-sync mirror needs none.
	if r := mirrorctl(t, "resync", "--no-progress", mp); !strings.Contains(r.Stderr, "not degraded: nothing to resync") {
		t.Errorf("root's resync was not answered by the mount: %s", r)
	}
	m.Stop(t)
}

// TestControl_OthersAreToldWhoServes: status and resync by user nobody on root's mount say that a
// mount serves it and who runs it, never that no mount serves it, and exit non-zero.
func TestControl_OthersAreToldWhoServes(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	openToNobody(t, mp)
	m := startMount(t, primary, mirrorDir, mp)
	for _, cmd := range [][]string{{"status", mp}, {"resync", "--no-progress", mp}} {
		out, err := runAs(nobody, bin, cmd...)
		if err == nil {
			t.Errorf("nobody's mirrorctl %v succeeded: %s", cmd, out)
		}
		if strings.Contains(out, "no mirrorctl mount serves") || !strings.Contains(out, "a mirrorctl mount serves "+mp+", run by root") {
			t.Errorf("nobody's mirrorctl %v said %q; want that a mount run by root serves %s", cmd, out, mp)
		}
		if strings.Contains(out, primary) {
			t.Errorf("nobody's mirrorctl %v leaked the primary's path: %s", cmd, out)
		}
		if n := strings.Count(strings.TrimSpace(out), "\n"); n != 0 {
			t.Errorf("nobody's mirrorctl %v: %d lines, want one: %s", cmd, n+1, out)
		}
	}
	// A socket in a directory the caller cannot see (another user's runtime directory is 0700):
	// the mount table still says who serves the mount point.
	sock := liveSocket(t, mp)
	if err := os.Rename(sock, sock+".hidden"); err != nil {
		t.Fatal(err)
	}
	out, err := runAs(nobody, bin, "status", mp)
	if err := os.Rename(sock+".hidden", sock); err != nil {
		t.Fatal(err)
	}
	if err == nil || !strings.Contains(out, "a mirrorctl mount serves "+mp+", run by root") {
		t.Errorf("nobody's status with the socket out of sight said %q (%v); want that a mount run by root serves %s", out, err, mp)
	}
	m.Stop(t)
}

// TestControl_SymlinkedMountPoint: status and unmount recognise a mount point given through a
// symlink, live or dead (a dead FUSE mount point cannot be stat'ed).
func TestControl_SymlinkedMountPoint(t *testing.T) {
	needFUSE(t)
	t.Run("live", func(t *testing.T) {
		primary, mirrorDir, mp := dirs(t)
		link := filepath.Join(t.TempDir(), "link")
		if err := os.Symlink(mp, link); err != nil {
			t.Fatal(err)
		}
		m := startMount(t, primary, mirrorDir, mp)
		r := mirrorctl(t, "status", link)
		if r.Code != 0 || !strings.Contains(r.Stdout, "state:       serving") {
			t.Fatalf("status through a symlink to a live mount point: %s", r)
		}
		r = mirrorctl(t, "unmount", link)
		if r.Code != 0 || !strings.Contains(r.Stdout, "stopped cleanly") {
			t.Fatalf("unmount through a symlink: %s", r)
		}
		select {
		case <-m.done:
		case <-time.After(time.Minute):
			t.Fatalf("mount process still running a minute after unmount:\n%s", m.Output())
		}
		if isMountPoint(mp) {
			t.Errorf("%s is still a mount point", mp)
		}
	})
	t.Run("dead", func(t *testing.T) {
		primary, mirrorDir, mp := dirs(t)
		dir := t.TempDir()
		// A relative link, through a symlinked directory too.
		if err := os.Symlink(filepath.Dir(mp), filepath.Join(dir, "base")); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, "link")
		if err := os.Symlink("base/"+filepath.Base(mp), link); err != nil {
			t.Fatal(err)
		}
		m := startMount(t, primary, mirrorDir, mp)
		m.KillProcess(t)
		<-m.done
		// Once the kernel's cached attributes expire, the dead mount point cannot be stat'ed.
		eventually(t, 30*time.Second, "the dead mount point to answer ENOTCONN", func() bool {
			_, err := os.Stat(mp)
			return errors.Is(err, syscall.ENOTCONN)
		})
		r := mirrorctl(t, "unmount", link)
		if r.Code != 0 || !strings.Contains(r.Stdout, "no mount process was running") {
			t.Fatalf("unmount through a symlink to a dead mount point: %s", r)
		}
		if isMountPoint(mp) {
			t.Errorf("%s is still a mount point", mp)
		}
	})
}
