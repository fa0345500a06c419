package progress

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestHelperProcess is not a test: the tests below run the test binary again with
// PROGRESS_HELPER=1, to show one task on the stderr they give it (a pseudo-terminal or a pipe).
func TestHelperProcess(t *testing.T) {
	if os.Getenv("PROGRESS_HELPER") != "1" {
		t.Skip("helper process for TestTerminal_*; runs only when PROGRESS_HELPER=1")
	}
	r := New(os.Stderr, Options{Every: 200 * time.Millisecond, Delay: 100 * time.Millisecond})
	task := r.Start("copying", 64*mib, Bytes)
	for i := int64(1); i <= 16; i++ {
		time.Sleep(100 * time.Millisecond)
		task.Update(i*4*mib, 0)
		if i == 8 {
			fmt.Fprintln(r.Writer(), "a log line while the bar is drawn")
		}
	}
	task.Done()
	os.Exit(0)
}

func helper(t *testing.T) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "PROGRESS_HELPER=1")
	return cmd
}

// TestTerminal_BarInAPseudoTerminal runs a task with its stderr on a pseudo-terminal and reads what
// the terminal receives: a bar redrawn in place (escape codes), with the rate and the time left.
func TestTerminal_BarInAPseudoTerminal(t *testing.T) {
	cmd := helper(t)
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 120})
	if err != nil {
		t.Skipf("no pseudo-terminal here (%v): the terminal mode is not tested", err)
	}
	defer ptmx.Close()
	var out bytes.Buffer
	copied := make(chan error, 1)
	go func() { _, err := io.Copy(&out, ptmx); copied <- err }()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("helper: %v\n%q", err, out.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("helper did not end within 30 s")
	}
	// Linux ends the master's reads with EIO once the last slave is closed.
	if err := <-copied; err != nil && !errors.Is(err, syscall.EIO) {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"copying", "MiB/s", " left", "64 MiB of 64 MiB (100%) in", "a log line while the bar is drawn\r\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("the terminal did not show %q:\n%q", want, s)
		}
	}
	if !strings.Contains(s, "\x1b[") {
		t.Errorf("no escape codes: the bar was not redrawn in place:\n%q", s)
	}
	if strings.Contains(s, "copying: ") {
		t.Errorf("plain lines on a terminal:\n%q", s)
	}
}

// TestTerminal_PlainLinesWithoutATerminal runs the same task with stderr on a pipe, and on a
// terminal of width 0 (a serial console, a pseudo-terminal nobody sized): plain lines, one per
// interval, and no escape codes.
func TestTerminal_PlainLinesWithoutATerminal(t *testing.T) {
	t.Run("pipe", func(t *testing.T) {
		cmd := helper(t)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("helper: %v\n%s", err, stderr.String())
		}
		checkPlain(t, stderr.String())
	})
	t.Run("terminal of width 0", func(t *testing.T) {
		cmd := helper(t)
		ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{})
		if err != nil {
			t.Skipf("no pseudo-terminal here (%v)", err)
		}
		defer ptmx.Close()
		var out bytes.Buffer
		copied := make(chan error, 1)
		go func() { _, err := io.Copy(&out, ptmx); copied <- err }()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper: %v\n%q", err, out.String())
		}
		<-copied
		checkPlain(t, strings.ReplaceAll(out.String(), "\r\n", "\n"))
	})
}

func checkPlain(t *testing.T, s string) {
	t.Helper()
	if strings.ContainsRune(s, '\x1b') {
		t.Errorf("escape codes without a terminal:\n%q", s)
	}
	s = strings.Replace(s, "a log line while the bar is drawn\n", "", 1)
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) < 3 {
		t.Fatalf("want several plain lines, got:\n%s", s)
	}
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "copying: ") || !strings.Contains(l, "MiB/s") || !strings.HasSuffix(l, " left") {
			t.Errorf("not a progress line with rate and time left: %q", l)
		}
	}
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "copying: 64 MiB of 64 MiB (100%) in ") {
		t.Errorf("last line: %q", last)
	}
}
