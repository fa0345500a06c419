package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/host"
	"github.com/mirrorctl/mirrorctl/internal/testenv"
	"github.com/mirrorctl/mirrorctl/mountproc"
)

// bin is the mirrorctl binary built once for the whole package.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mirrorctl-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "mirrorctl")
	build := exec.Command("go", "build", "-o", bin, "../cmd/mirrorctl")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mirrorctl:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needFUSE skips (or fails under CI) unless this process is root and /dev/fuse opens.
func needFUSE(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root for FUSE mounts with allow_other and loop devices")
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		testenv.SkipOrFail(t, "needs /dev/fuse: %v", err)
	}
	f.Close()
}

// needTool skips (or fails under CI) unless a program is installed.
func needTool(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			testenv.SkipOrFail(t, "needs %s (make deps installs it)", n)
		}
	}
}

// result is what a finished mirrorctl command said.
type result struct {
	Stdout, Stderr string
	Code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// mirrorctl runs the binary to completion with a time limit.
func mirrorctl(t *testing.T, args ...string) result {
	t.Helper()
	return runMirrorctl(t, 5*time.Minute, "", nil, args...)
}

// mirrorctlEnv runs the binary with extra environment variables (such as S3 credentials).
func mirrorctlEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return runMirrorctl(t, 5*time.Minute, "", env, args...)
}

// runMirrorctl runs the binary to completion in the working directory dir ("": the test's), with
// extra environment variables, killing it after d.
func runMirrorctl(t *testing.T, d time.Duration, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("mirrorctl %v: %v", args, err)
	}
	return r
}

// mustRun runs mirrorctl and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := mirrorctl(t, args...)
	if r.Code != 0 {
		t.Fatalf("mirrorctl %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// Mount is a running `mirrorctl mount` process (started, awaited and stopped by package mountproc).
type Mount struct {
	Primary, Mirror, Point string
	proc                   *mountproc.Process
	cmd                    *exec.Cmd       // proc's command, for tests that signal it
	done                   <-chan struct{} // closed when the process has ended
	// ExpectDegraded is set by tests that break the mirror on purpose; Stop fails otherwise when the
	// mirror degraded.
	ExpectDegraded bool
}

// Output is what the mount process printed so far (stdout and stderr).
func (m *Mount) Output() string { return m.proc.Output() }

// Exited reports whether the mount process has ended.
func (m *Mount) Exited() bool { return m.proc.Exited() }

// Err is how the mount process exited (nil: status 0); valid once done is closed.
func (m *Mount) Err() error { return m.proc.Err() }

// PID is the mount process's id.
func (m *Mount) PID() int { return m.cmd.Process.Pid }

// dirs makes a primary, a mirror and a mount point directory under one temporary directory.
func dirs(t *testing.T) (primary, mirrorDir, mp string) {
	t.Helper()
	base := t.TempDir()
	primary, mirrorDir, mp = filepath.Join(base, "primary"), filepath.Join(base, "mirror"), filepath.Join(base, "mnt")
	for _, d := range []string{primary, mirrorDir, mp} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return
}

// startMount starts `mirrorctl mount` and waits until it serves; the test's cleanup stops it and
// removes the mount whatever happened.
func startMount(t *testing.T, primary, mirrorDir, mp string, extra ...string) *Mount {
	t.Helper()
	m, err := tryMount(t, primary, mirrorDir, mp, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tryMount is startMount that returns the failure instead of ending the test.
func tryMount(t *testing.T, primary, mirrorDir, mp string, extra ...string) (*Mount, error) {
	t.Helper()
	return tryMountEnv(t, nil, primary, mirrorDir, mp, extra...)
}

// tryMountEnv is tryMount with more environment variables for the mount process.
func tryMountEnv(t *testing.T, env []string, primary, mirrorDir, mp string, extra ...string) (*Mount, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := mountproc.Start(ctx, mountproc.Config{Binary: bin, Primary: primary, Mirror: mirrorDir, Point: mp, Extra: extra, Env: env})
	if err != nil {
		return nil, err
	}
	m := &Mount{Primary: primary, Mirror: mirrorDir, Point: mp, proc: p, cmd: p.Cmd(), done: p.Done()}
	t.Cleanup(func() { m.cleanup(t) })
	return m, nil
}

// Stop unmounts cleanly through `mirrorctl unmount` and waits for the process to end.
func (m *Mount) Stop(t *testing.T) {
	t.Helper()
	mustRun(t, "unmount", m.Point)
	select {
	case <-m.done:
	case <-time.After(time.Minute):
		t.Fatalf("mount process still running a minute after unmount:\n%s", m.Output())
	}
	if err := m.Err(); err != nil {
		t.Fatalf("mount process ended with %v:\n%s", err, m.Output())
	}
	if !m.ExpectDegraded && strings.Contains(m.Output(), "DEGRADED") {
		t.Fatalf("the mirror degraded during a test that expected no mirror failure:\n%s", m.Output())
	}
}

// Kill ends the mount process with SIGKILL, as a crash would, and removes the dead mount.
func (m *Mount) Kill(t *testing.T) {
	t.Helper()
	m.proc.Kill()
	m.proc.Detach()
}

// KillProcess ends the mount process with SIGKILL and leaves its dead mount in place.
func (m *Mount) KillProcess(t *testing.T) {
	t.Helper()
	m.proc.Kill()
}

func (m *Mount) cleanup(t *testing.T) {
	m.proc.Stop(30 * time.Second)
	if t.Failed() {
		t.Logf("mount process output:\n%s", m.Output())
	}
}

// lazyUnmount removes whatever is mounted at mp, a dead FUSE mount too.
func lazyUnmount(mp string) { mountproc.Detach(mp) }

// isMountPoint reads the mount table (host.MountedAt), which works on a dead FUSE mount too.
func isMountPoint(dir string) bool { ok, _ := host.MountedAt(dir); return ok }

// verifyClean runs `mirrorctl verify` and fails the test with the differences unless it exits 0.
func verifyClean(t *testing.T, primary, mirrorDir string, extra ...string) {
	t.Helper()
	r := mirrorctl(t, append([]string{"verify", "--primary", primary, "--mirror", mirrorDir}, extra...)...)
	if r.Code != 0 {
		t.Fatalf("verify found differences: %s", r)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
