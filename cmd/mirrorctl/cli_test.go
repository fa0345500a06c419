package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for mirrorctl when MIRRORCTL_AS_MAIN=1: the completion
// scripts call the program back, and these tests give them this binary.
func TestMain(m *testing.M) {
	if os.Getenv("MIRRORCTL_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// run runs the CLI in this process and returns stdout, stderr and the exit status main would give.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &errOut
	err := app.Run(append([]string{"mirrorctl"}, args...))
	return out.String(), errOut.String(), exitCode(err)
}

func TestExitStatusOfBadInput(t *testing.T) {
	dir, primary := t.TempDir(), t.TempDir()
	cases := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"no such command", []string{"bogus"}, exitUsage, `"bogus" is not a mirrorctl command`},
		{"unknown flag", []string{"mount", "--nope", dir}, exitUsage, "see mirrorctl mount --help"},
		{"bad flag value", []string{"drill", "--duration", "soon"}, exitUsage, "invalid value"},
		{"mount without mount point", []string{"mount", "--primary", dir, "--mirror", dir}, exitUsage, "exactly one MOUNTPOINT"},
		{"mount with a negative resync interval", []string{"mount", "--resync-interval", "-1m", "--primary", filepath.Join(dir, "p"), "--mirror", filepath.Join(dir, "m"), dir}, exitUsage, "--resync-interval -1m0s is negative"},
		{"mount of a missing primary", []string{"mount", "--primary", filepath.Join(dir, "nope"), "--mirror", filepath.Join(dir, "m"), dir}, exitUsage, "primary"},
		{"mount with the primary as mirror", []string{"mount", "--primary", dir, "--mirror", dir, dir}, exitUsage, "same directory"},
		{"mount on a missing mount point", []string{"mount", "--primary", primary, "--mirror", filepath.Join(dir, "m"), filepath.Join(dir, "nomp")}, exitUsage, "does not exist"},
		{"sync of a missing primary", []string{"sync", "--primary", filepath.Join(dir, "nope"), "--mirror", filepath.Join(dir, "m")}, exitUsage, "primary"},
		{"verify with the mirror inside the primary", []string{"verify", "--primary", dir, "--mirror", filepath.Join(dir, "m")}, exitUsage, "inside the primary"},
		{"mount on an empty mount point", []string{"mount", "--primary", filepath.Join(dir, "p"), "--mirror", filepath.Join(dir, "m"), ""}, exitUsage, "MOUNTPOINT argument is empty"},
		{"mount with an empty --primary", []string{"mount", "--primary", "", "--mirror", filepath.Join(dir, "m"), dir}, exitUsage, "--primary"},
		{"mount with an empty --mirror", []string{"mount", "--primary", dir, "--mirror", "", dir}, exitUsage, "--mirror"},
		{"bad log format before the command", []string{"--log-format", "xml", "status"}, exitUsage, "use text or json"},
		{"bad log level on mount", []string{"mount", "--log-level", "loud", "--primary", dir, "--mirror", dir, dir}, exitUsage, "use debug, info, warn or error"},
		{"status without target", []string{"status"}, exitUsage, "MOUNTPOINT argument or --mirror"},
		{"completion for an unknown shell", []string{"completion", "fish"}, exitUsage, "use bash or zsh"},
		{"man with an argument", []string{"man", "x"}, exitUsage, "takes no arguments"},
		{"verify with an argument", []string{"verify", "x"}, exitUsage, "takes no arguments"},
		{"version", []string{"--version"}, exitOK, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, _ := os.ReadDir(dir)
			_, _, code := run(t, c.args...)
			if code != c.code {
				t.Fatalf("exit status %d, want %d", code, c.code)
			}
			if c.says != "" {
				app := newApp()
				var sink bytes.Buffer
				app.Writer, app.ErrWriter = &sink, &sink
				err := app.Run(append([]string{"mirrorctl"}, c.args...))
				if err == nil || !strings.Contains(err.Error(), c.says) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %q: want one line containing %q", err, c.says)
				}
			}
			after, _ := os.ReadDir(dir)
			if len(after) != len(before) {
				t.Fatalf("a refused command changed %s: %d entries, was %d", dir, len(after), len(before))
			}
		})
	}
}

func TestVersionIsSetAtBuildTime(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "v9.8.7"
	out, _, code := run(t, "--version")
	if code != 0 || !strings.Contains(out, "v9.8.7") {
		t.Fatalf("--version printed %q (exit %d), want the version set by -ldflags", out, code)
	}
}

// Every command an operator sees shows examples in its help; the top-level help shows exit statuses.
func TestHelpShowsExamples(t *testing.T) {
	out, _, _ := run(t, "--help")
	for _, want := range []string{"EXAMPLES:", "EXIT STATUS:", "2  usage error"} {
		if !strings.Contains(out, want) {
			t.Errorf("mirrorctl --help lacks %q", want)
		}
	}
	for _, cmd := range newApp().Commands {
		if cmd.Hidden {
			continue
		}
		t.Run(cmd.Name, func(t *testing.T) {
			out, _, code := run(t, cmd.Name, "--help")
			if code != 0 || !strings.Contains(out, "EXAMPLES:") || !strings.Contains(out, "mirrorctl "+cmd.Name) {
				t.Fatalf("mirrorctl %s --help (exit %d) shows no example of itself:\n%s", cmd.Name, code, out)
			}
		})
	}
}

func TestManPageCoversEveryCommand(t *testing.T) {
	page, _, code := run(t, "man")
	if code != 0 || !strings.HasPrefix(page, ".nh\n.TH mirrorctl 1") {
		t.Fatalf("man (exit %d) did not print a section-1 page:\n%.300s", code, page)
	}
	for _, cmd := range newApp().Commands {
		heading := "\n.SH " + cmd.Name
		if in := strings.Contains(page, heading+"\n") || strings.Contains(page, heading+","); in == cmd.Hidden {
			t.Errorf("command %s (hidden: %v): in the man page = %v", cmd.Name, cmd.Hidden, in)
		}
	}
	if !strings.Contains(page, "EXIT STATUS") {
		t.Error("man page lacks the exit statuses")
	}
	man, err := exec.LookPath("man")
	if err != nil {
		t.Skip("man not installed (make deps installs man-db): rendering not checked")
	}
	f := filepath.Join(t.TempDir(), "mirrorctl.1")
	if err := os.WriteFile(f, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(man, "--warnings", "-l", f)
	cmd.Env = append(os.Environ(), "MANWIDTH=100", "MAN_KEEP_FORMATTING=0", "PAGER=cat")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	rendered, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("man -l: %v\n%s", err, stderr.String())
	}
	if !bytes.Contains(rendered, []byte("--primary")) {
		t.Fatalf("rendered page lacks the mount flags:\n%.500s", rendered)
	}
}

// selfAsMirrorctl writes a `mirrorctl` wrapper that runs this test binary as the program.
func selfAsMirrorctl(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "mirrorctl")
	script := "#!/bin/sh\nMIRRORCTL_AS_MAIN=1 exec " + exe + " \"$@\"\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCompletionScripts(t *testing.T) {
	bin := selfAsMirrorctl(t)
	cases := []struct {
		shell string
		words []string // the command line so far; the last word is the one being completed
		want  []string
		not   []string
	}{
		{"bash", []string{"mo"}, []string{"mount"}, []string{"status"}},
		{"bash", []string{""}, []string{"mount", "promote", "status"}, []string{"workload"}},
		{"bash", []string{"mount", "--pri"}, []string{"--primary"}, []string{"--mirror"}},
		{"bash", []string{"promote", "--dry"}, []string{"--dry-run"}, nil},
		// zsh's _describe itself keeps the candidates that match a command word: all are passed.
		{"zsh", []string{"pro"}, []string{"promote", "mount"}, []string{"workload"}},
		{"zsh", []string{"status", "--j"}, []string{"--json"}, []string{"--mirror"}},
	}
	for _, c := range cases {
		t.Run(c.shell+" "+strings.Join(c.words, " "), func(t *testing.T) {
			sh, err := exec.LookPath(c.shell)
			if err != nil {
				t.Skipf("%s not installed (make deps installs it)", c.shell)
			}
			script, _, code := run(t, "completion", c.shell)
			if code != 0 {
				t.Fatalf("completion %s: exit %d", c.shell, code)
			}
			words := append([]string{bin}, c.words...)
			var driver string
			if c.shell == "bash" {
				driver = script + "\nCOMP_WORDS=(" + shellWords(words) + ")\nCOMP_CWORD=" + itoa(len(words)-1) +
					"\n_mirrorctl_complete\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
			} else {
				// Outside the completion system, stand-ins for compdef, _describe and _files print what
				// zsh would offer.
				driver = "compdef() { :; }\n_describe() { print -l -- \"${(@P)2}\"; }\n_files() { print FILES; }\n" +
					script + "\nwords=(" + shellWords(words) + ")\nCURRENT=" + itoa(len(words)) + "\n_mirrorctl\n"
			}
			out, err := exec.Command(sh, "-c", driver).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", c.shell, err, out)
			}
			got := map[string]bool{}
			for _, w := range strings.Fields(string(out)) {
				got[strings.SplitN(w, ":", 2)[0]] = true
			}
			for _, w := range c.want {
				if !got[w] {
					t.Errorf("completion offered %q, want %s among them", out, w)
				}
			}
			for _, w := range c.not {
				if got[w] {
					t.Errorf("completion offered %q, which should not include %s", out, w)
				}
			}
		})
	}
}

func shellWords(ws []string) string {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestLoggerFormatsAndLevels(t *testing.T) {
	cases := []struct {
		format, level string
		debugShown    bool
		json          bool
	}{
		{"text", "info", false, false},
		{"json", "info", false, true},
		{"JSON", "debug", true, true},
		{"text", "warn", false, false},
	}
	for _, c := range cases {
		t.Run(c.format+"/"+c.level, func(t *testing.T) {
			var buf bytes.Buffer
			lg, err := buildLogger(&buf, c.format, c.level)
			if err != nil {
				t.Fatal(err)
			}
			lg.Debug("debug line")
			lg.Warn("mirror DEGRADED", "path", "a b")
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if want := map[bool]int{true: 2, false: 1}[c.debugShown]; len(lines) != want {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), want, buf.String())
			}
			last := lines[len(lines)-1]
			var v map[string]any
			isJSON := json.Unmarshal([]byte(last), &v) == nil
			if isJSON != c.json {
				t.Fatalf("line %q: JSON = %v, want %v", last, isJSON, c.json)
			}
			if c.json && (v["msg"] != "mirror DEGRADED" || v["path"] != "a b" || v["level"] != "WARN") {
				t.Fatalf("JSON line lacks its fields: %v", v)
			}
		})
	}
}

func TestNotifierSpeaksSystemdProtocol(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		name := filepath.Join(t.TempDir(), "notify.sock")
		listen := name
		if abstract {
			name = "@mirrorctl-test-" + itoa(os.Getpid()%10) + time.Now().Format("150405.000000")
			listen = "\x00" + name[1:]
		}
		conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: listen, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("NOTIFY_SOCKET", name)
		n := newNotifier()
		if os.Getenv("NOTIFY_SOCKET") != "" {
			t.Error("NOTIFY_SOCKET left for child processes")
		}
		if err := n.send("READY=1", "STATUS=serving /srv/env"); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4096)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, err := conn.Read(buf)
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:k]); got != "READY=1\nSTATUS=serving /srv/env\n" {
			t.Fatalf("abstract=%v: datagram %q", abstract, got)
		}
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if err := newNotifier().send("READY=1"); err != nil {
		t.Fatalf("without systemd, notifying must do nothing: %v", err)
	}
}
