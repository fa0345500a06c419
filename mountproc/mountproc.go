package mountproc

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/mirrorctl/mirrorctl/host"
	"github.com/mirrorctl/mirrorctl/internal/syncbuf"
)

// ReadyLine is what a mount prints when it serves.
const ReadyLine = "serving "

// Config is what to mount and how to run the child.
type Config struct {
	Binary                 string    // the mirrorctl executable
	Primary, Mirror, Point string    // --primary, --mirror and the mount point
	Extra                  []string  // more flags of mount
	Env                    []string  // more environment variables for the child
	Log                    io.Writer // if set, also receives the child's output
}

// Process is a running `mirrorctl mount`.
type Process struct {
	Point string
	cmd   *exec.Cmd
	out   *syncbuf.Buffer
	done  chan struct{}
	err   error // the child's exit, set before done closes
}

// ExitedError is a child that ended before it served.
type ExitedError struct {
	Err    error  // how it exited
	Output string // what it printed
}

func (e *ExitedError) Error() string {
	return fmt.Sprintf("mount exited before serving: %v: %s", e.Err, strings.TrimSpace(e.Output))
}

// Start starts the child and waits until it serves, until ctx ends or the child exits.
func Start(ctx context.Context, c Config) (*Process, error) {
	args := append([]string{"mount", "--primary", c.Primary, "--mirror", c.Mirror}, c.Extra...)
	args = append(args, c.Point)
	p := &Process{Point: c.Point, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(c.Binary, args...)
	p.cmd.Env = append(os.Environ(), c.Env...)
	var w io.Writer = p.out
	if c.Log != nil {
		w = io.MultiWriter(p.out, c.Log)
	}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Binary, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	if err := p.waitServing(ctx); err != nil {
		p.Kill()
		p.Detach()
		return nil, err
	}
	return p, nil
}

// waitServing polls the child's output and the mount table until it serves.
func (p *Process) waitServing(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !strings.Contains(p.Output(), ReadyLine) || !mounted(p.Point) {
		select {
		case <-p.done:
			return &ExitedError{Err: p.err, Output: p.Output()}
		case <-ctx.Done():
			return fmt.Errorf("mount not serving: %w:\n%s", ctx.Err(), p.Output())
		case <-t.C:
		}
	}
	return nil
}

// Output is what the child printed so far (stdout and stderr).
func (p *Process) Output() string { return p.out.String() }

// Cmd is the child's command; its Process is the running child.
func (p *Process) Cmd() *exec.Cmd { return p.cmd }

// Done is closed when the child has ended; Err says how.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the child's exit (nil: status 0); valid once Done is closed.
func (p *Process) Err() error { return p.err }

// Exited reports whether the child has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop unmounts the mount point, so that the child ends cleanly; if it has not ended within grace,
// its process group is killed. Then no mount is left at the mount point.
func (p *Process) Stop(grace time.Duration) {
	if !p.Exited() {
		_ = syscall.Unmount(p.Point, 0)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	p.Detach()
}

// Kill ends the child with SIGKILL, as a crash would, and waits for it; its dead mount stays.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Detach removes whatever is mounted at the mount point (lazily: a dead FUSE mount too).
func (p *Process) Detach() { Detach(p.Point) }

// Detach lazily unmounts everything mounted at mp.
func Detach(mp string) {
	for mounted(mp) {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil {
			return
		}
	}
}

func mounted(dir string) bool { ok, _ := host.MountedAt(dir); return ok }
