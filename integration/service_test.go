package integration

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInstall_UnitVerifies installs into a scratch prefix with `make install` and checks the systemd
// unit with systemd-analyze verify (which also checks that its binary and man page exist), the man
// page and the completion scripts.
func TestInstall_UnitVerifies(t *testing.T) {
	needTool(t, "make", "systemd-analyze")
	prefix := t.TempDir()
	mk := exec.Command("make", "-C", "..", "install", "PREFIX="+prefix, "SYSCONFDIR="+filepath.Join(prefix, "etc"))
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	unit := filepath.Join(prefix, "lib", "systemd", "system", "mirrorctl@.service")
	for _, f := range []string{
		filepath.Join(prefix, "bin", "mirrorctl"),
		unit,
		filepath.Join(prefix, "share", "man", "man1", "mirrorctl.1"),
		filepath.Join(prefix, "share", "bash-completion", "completions", "mirrorctl"),
		filepath.Join(prefix, "share", "zsh", "site-functions", "_mirrorctl"),
		filepath.Join(prefix, "etc", "mirrorctl", "example.conf.sample"),
	} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("make install did not install %s", f)
		}
	}
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "ExecStart="+filepath.Join(prefix, "bin", "mirrorctl")+" mount ") ||
		!strings.Contains(string(b), "Type=notify") {
		t.Fatalf("installed unit does not start the installed binary as Type=notify:\n%s", b)
	}
	verify := exec.Command("systemd-analyze", "verify", unit)
	verify.Env = append(os.Environ(), "MANPATH="+filepath.Join(prefix, "share", "man"))
	out, err := verify.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unit, err, out)
	}
}

// notifyListener receives the sd_notify datagrams of a mount, noting whether the mount point was
// mounted when each arrived.
type notifyMsg struct {
	text    string
	mounted bool
}

func notifyListener(t *testing.T, mp string) (string, <-chan notifyMsg) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan notifyMsg, 64)
	go func() {
		buf := make([]byte, 8192)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- notifyMsg{text: string(buf[:n]), mounted: isMountPoint(mp)}
		}
	}()
	return sock, ch
}

// waitNotify returns the first datagram containing want.
func waitNotify(t *testing.T, ch <-chan notifyMsg, want string, seen *[]string) notifyMsg {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("notify socket closed before %q; got %q", want, *seen)
			}
			*seen = append(*seen, m.text)
			if strings.Contains(m.text, want) {
				return m
			}
		case <-timeout:
			t.Fatalf("no %q from the mount within a minute; got %q", want, *seen)
		}
	}
}

// jsonLogLines are the mount's structured log lines (stderr, --log-format json).
func jsonLogLines(t *testing.T, output string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(output, "\n") {
		if !strings.HasPrefix(l, "{") {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := v[k]; !ok {
				t.Fatalf("log line lacks %q: %q", k, l)
			}
		}
		lines = append(lines, v)
	}
	return lines
}

// TestService_ReadyAfterServingAndCleanStopOnSIGTERM is the mount as systemd runs it (Type=notify):
// READY=1 only once the mount serves, one log line per state change and none per write, and SIGTERM
// gives a clean stop.
func TestService_ReadyAfterServingAndCleanStopOnSIGTERM(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	sock, ch := notifyListener(t, mp)
	m, err := tryMountEnv(t, []string{"NOTIFY_SOCKET=" + sock}, primary, mirrorDir, mp, "--log-format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	ready := waitNotify(t, ch, "READY=1", &seen)
	if !ready.mounted {
		t.Fatalf("READY=1 came before the mount point was mounted: %q", seen)
	}
	if !strings.Contains(ready.text, "STATUS=serving "+mp) {
		t.Errorf("READY=1 without a serving status: %q", ready.text)
	}
	for _, s := range seen[:len(seen)-1] {
		if strings.Contains(s, "READY=1") {
			t.Fatalf("READY=1 sent twice: %q", seen)
		}
	}

	before := len(jsonLogLines(t, m.Output()))
	if before == 0 {
		t.Fatalf("no JSON log lines from --log-format json:\n%s", m.Output())
	}
	for i := 0; i < 200; i++ {
		p := filepath.Join(mp, "f"+itoa(uint32(i%10)))
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(bytes.Repeat([]byte{'a'}, 4096)); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if after := jsonLogLines(t, m.Output()); len(after) != before {
		t.Fatalf("200 writes and fsyncs added %d log lines; want none (one per state change only):\n%s", len(after)-before, m.Output())
	}

	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.done:
	case <-time.After(time.Minute):
		t.Fatalf("mount still running a minute after SIGTERM:\n%s", m.Output())
	}
	if m.Err() != nil {
		t.Fatalf("mount exited with %v after SIGTERM:\n%s", m.Err(), m.Output())
	}
	waitNotify(t, ch, "STOPPING=1", &seen)
	if isMountPoint(mp) {
		t.Fatal("mount point still mounted after SIGTERM")
	}
	var stopped bool
	for _, l := range jsonLogLines(t, m.Output()) {
		if l["msg"] == "stopped cleanly" && l["state"] == "in_sync" {
			stopped = true
		}
	}
	if !stopped {
		t.Errorf("no \"stopped cleanly\" state line in the log:\n%s", m.Output())
	}
	r := mustRun(t, "status", "--json", "--mirror", mirrorDir, "--primary", primary)
	var st struct {
		State string
		Clean bool `json:"clean_stop"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil || !st.Clean || st.State != "in-sync" {
		t.Fatalf("after SIGTERM the mirror is not recorded as cleanly stopped and in sync: %s", r)
	}
	verifyClean(t, primary, mirrorDir)
}
