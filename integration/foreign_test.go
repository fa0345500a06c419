package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// foreignStatus is the part of `status --json` on writes behind the mount's back.
type foreignStatus struct {
	State        string
	ForeignWatch string `json:"foreign_watch"`
	Stats        struct {
		ForeignWrites    int64 `json:"foreign_writes"`
		LastForeignWrite *struct {
			Path string
			PID  int
			Comm string
		} `json:"last_foreign_write"`
	}
	Degraded *struct {
		Reason string
		Dirty  []string
	}
}

func foreignOf(t *testing.T, mp string) foreignStatus {
	t.Helper()
	r := mirrorctl(t, "status", "--json", mp)
	var s foreignStatus
	if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
		t.Fatalf("status --json: %s", r)
	}
	return s
}

// mountWithMetrics starts a mount whose metrics are on a free loopback port, with resyncs only on
// request, and returns it with its metrics' address.
func mountWithMetrics(t *testing.T, primary, mirrorDir, mp string) (*Mount, string) {
	t.Helper()
	m := startMount(t, primary, mirrorDir, mp, "--metrics-addr", ":0", "--resync-interval", "0")
	found := metricsURL.FindStringSubmatch(m.Output())
	if found == nil {
		t.Fatalf("the mount does not say where its metrics are:\n%s", m.Output())
	}
	if s := foreignOf(t, mp); s.ForeignWatch != "fanotify" {
		t.Fatalf("the mount does not watch the primary with fanotify: %q", s.ForeignWatch)
	}
	return m, found[1]
}

// TestForeign_WritesBehindTheMountAreCaughtAndResynced: a process that writes the primary directly
// while the mount serves is seen at once (a log line naming the file and the process, the counter in
// status and in metrics, the paths marked), and the mirror catches up with the resync.
func TestForeign_WritesBehindTheMountAreCaughtAndResynced(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	writeFile(t, filepath.Join(primary, "kept"), "kept\n")
	m, url := mountWithMetrics(t, primary, mirrorDir, mp)
	m.ExpectDegraded = true // a foreign write degrades the mirror until the resync

	// The shell stays alive until told, so that its name can be read when its writes are.
	sh := exec.Command("sh", "-c", "echo foreign > behind; mkdir dir; echo two > dir/two; echo x >> kept; echo done; read x")
	sh.Dir = primary
	stdin, err := sh.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = sh.Wait() }()
	if _, err := stdout.Read(make([]byte, 5)); err != nil {
		t.Fatal(err)
	}

	var st foreignStatus
	want := []string{"behind", "dir", "dir/two", "kept"}
	eventually(t, 10*time.Second, "the foreign writes to be marked for resync", func() bool {
		st = foreignOf(t, mp)
		return st.Degraded != nil && st.Stats.LastForeignWrite != nil && st.Stats.LastForeignWrite.Path == "kept" &&
			slices.Equal(st.Degraded.Dirty, want)
	})
	if st.State != "degraded" || !strings.HasPrefix(st.Degraded.Reason, "foreign write to behind by pid ") {
		t.Errorf("status: state %s, degraded because %q", st.State, st.Degraded.Reason)
	}
	if st.Stats.ForeignWrites < int64(len(want)) {
		t.Errorf("status counts %d foreign writes, want at least %d", st.Stats.ForeignWrites, len(want))
	}
	// echo is the shell's own: the write to kept is the shell's, with its pid and name.
	if last := st.Stats.LastForeignWrite; last.PID != sh.Process.Pid || last.Comm != "sh" {
		t.Errorf("last foreign write by pid %d (%q), want the shell, pid %d", last.PID, last.Comm, sh.Process.Pid)
	}
	out := m.Output()
	if !strings.Contains(out, "foreign write") || !strings.Contains(out, "path=behind") ||
		!strings.Contains(out, fmt.Sprintf("pid=%d", sh.Process.Pid)) || !strings.Contains(out, "comm=sh") {
		t.Errorf("no log line naming the file and the process:\n%s", out)
	}
	if n := scrape(t, url).get(t, "mirrorctl_foreign_writes_total"); n != float64(st.Stats.ForeignWrites) {
		t.Errorf("mirrorctl_foreign_writes_total is %v, status says %d", n, st.Stats.ForeignWrites)
	}
	human := mirrorctl(t, "status", mp)
	if !strings.Contains(human.Stdout, "writes to the primary behind the mount's back; last: kept by pid") {
		t.Errorf("status does not show the foreign writes:\n%s", human)
	}

	mustRun(t, "resync", mp)
	for rel, content := range map[string]string{"behind": "foreign\n", "dir/two": "two\n", "kept": "kept\nx\n"} {
		b, err := os.ReadFile(filepath.Join(mirrorDir, rel))
		if err != nil || string(b) != content {
			t.Errorf("mirror's %s after the resync: %q %v, want %q", rel, b, err, content)
		}
	}
	if st := foreignOf(t, mp); st.Degraded != nil {
		t.Errorf("still degraded after the resync: %+v", st.Degraded)
	}
	m.Stop(t)
	verifyClean(t, primary, mirrorDir)
}

// TestForeign_TheMountsOwnWritesNeverCount: a workload through the mount (creates, writes, renames,
// removals, fsyncs, links, attributes, a file the policy excludes, and a Berkeley DB environment when
// its utilities are installed) leaves the foreign-write counter at 0.
func TestForeign_TheMountsOwnWritesNeverCount(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	m, url := mountWithMetrics(t, primary, mirrorDir, mp)
	m.ExpectDegraded = true // by the sentinel, at the end

	at := func(rel string) string { return filepath.Join(mp, rel) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(at("d"), 0o755))
	f, err := os.Create(at("d/f"))
	must(err)
	_, err = f.Write([]byte(strings.Repeat("data", 4096)))
	must(err)
	must(f.Sync())
	_, err = f.WriteAt([]byte("over"), 100)
	must(err)
	must(unix.Fdatasync(int(f.Fd())))
	must(f.Close())
	must(os.Rename(at("d/f"), at("d/g")))
	must(os.Link(at("d/g"), at("d/h")))
	must(os.Symlink("g", at("d/s")))
	must(os.Chmod(at("d/g"), 0o600))
	must(os.Truncate(at("d/h"), 10))
	must(os.Chtimes(at("d/g"), time.Unix(1e9, 0), time.Unix(1e9, 0)))
	must(unix.Setxattr(at("d/g"), "user.test", []byte("v"), 0))
	must(os.Remove(at("d/h")))
	must(os.Remove(at("d/s")))
	must(os.Mkdir(at("d/e"), 0o755))
	must(os.Rename(at("d/e"), at("e")))
	must(os.Remove(at("e")))
	dir, err := os.Open(at("d"))
	must(err)
	must(dir.Sync())
	must(dir.Close())
	if _, err := exec.LookPath("db_recover"); err == nil {
		must(os.Mkdir(at("env"), 0o755))
		acked := workloadRun(t, at("env"), filepath.Join(t.TempDir(), "acked"), "--txns", "200", "--log-size", "65536")
		logs, _ := filepath.Glob(filepath.Join(primary, "env", "log.*"))
		t.Logf("Berkeley DB workload through the mount: %d transactions acknowledged, %d log files", len(acked), len(logs))
	} else {
		t.Log("no Berkeley DB utilities: the workload through the mount is files only")
	}

	// Changes are reported in order: once a foreign mkdir (one event) is counted, every change the
	// workload made before it has been looked at.
	shell := exec.Command("mkdir", filepath.Join(primary, "sentinel"))
	if out, err := shell.CombinedOutput(); err != nil {
		t.Fatalf("mkdir sentinel: %v: %s", err, out)
	}
	var st foreignStatus
	eventually(t, 10*time.Second, "the sentinel to be counted", func() bool {
		st = foreignOf(t, mp)
		return st.Stats.LastForeignWrite != nil && st.Stats.LastForeignWrite.Path == "sentinel"
	})
	if st.Stats.ForeignWrites != 1 || st.Degraded == nil || !slices.Equal(st.Degraded.Dirty, []string{"sentinel"}) {
		t.Fatalf("the mount's own writes were counted as foreign: %d foreign writes, degraded %+v", st.Stats.ForeignWrites, st.Degraded)
	}
	if n := scrape(t, url).get(t, "mirrorctl_foreign_writes_total"); n != 1 {
		t.Errorf("mirrorctl_foreign_writes_total is %v, want 1 (the sentinel)", n)
	}
	mustRun(t, "resync", mp)
	m.Stop(t)
	verifyClean(t, primary, mirrorDir)
}

// TestForeign_WatchCanBeTurnedOff: --watch-foreign=false says so in status, and counts nothing.
func TestForeign_WatchCanBeTurnedOff(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	m := startMount(t, primary, mirrorDir, mp, "--watch-foreign=false")
	if s := foreignOf(t, mp); !strings.HasPrefix(s.ForeignWatch, "off") {
		t.Fatalf("status says the watch is %q with --watch-foreign=false", s.ForeignWatch)
	}
	m.Stop(t)
}

// TestForeign_MirrorCatchesUpWithinSeconds: with the default --resync-interval (a minute), a write
// behind the mount's back degrades the mirror only until the resync it triggers, about a second later.
func TestForeign_MirrorCatchesUpWithinSeconds(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	m := startMount(t, primary, mirrorDir, mp)
	m.ExpectDegraded = true // for the second the foreign write leaves it out of date
	if err := exec.Command("sh", "-c", "echo stray > "+filepath.Join(primary, "stray")).Run(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the foreign write to be counted", func() bool {
		return foreignOf(t, mp).Stats.ForeignWrites > 0
	})
	start := time.Now()
	eventually(t, 15*time.Second, "the mirror to be in sync again without a resync command", func() bool {
		b, err := os.ReadFile(filepath.Join(mirrorDir, "stray"))
		return foreignOf(t, mp).Degraded == nil && err == nil && string(b) == "stray\n"
	})
	t.Logf("in sync again %s after the foreign write was counted", time.Since(start).Round(time.Millisecond))
	m.Stop(t)
	verifyClean(t, primary, mirrorDir)
}
