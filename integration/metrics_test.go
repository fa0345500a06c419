package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/internal/syncbuf"
)

// metrics is one scrape of /metrics: each sample by its name and labels as exposed
// (`mirrorctl_state{state="in_sync"}`), and the metric names that have HELP text.
type metrics struct {
	samples map[string]float64
	help    map[string]bool
	text    string
}

// scrape reads the text exposition at url.
func scrape(t *testing.T, url string) metrics {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s %v:\n%s", url, resp.Status, err, b)
	}
	m := metrics{samples: map[string]float64{}, help: map[string]bool{}, text: string(b)}
	sc := bufio.NewScanner(strings.NewReader(m.text))
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) > 2 && f[0] == "#" && f[1] == "HELP" {
			m.help[f[2]] = true
		}
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("scrape %s: cannot read the line %q", url, line)
		}
		m.samples[line[:i]] = v
	}
	return m
}

// get returns a sample that must be there.
func (m metrics) get(t *testing.T, key string) float64 {
	t.Helper()
	v, ok := m.samples[key]
	if !ok {
		t.Fatalf("no sample %s in the scrape:\n%s", key, m.mirrorctl())
	}
	return v
}

// state is the one state whose gauge is 1; it fails the test unless there is exactly one.
func (m metrics) state(t *testing.T) string {
	t.Helper()
	var on []string
	for k, v := range m.samples {
		if s, ok := strings.CutPrefix(k, `mirrorctl_state{state="`); ok && v == 1 {
			on = append(on, strings.TrimSuffix(s, `"}`))
		}
	}
	if len(on) != 1 {
		t.Fatalf("states at 1: %v, want exactly one:\n%s", on, m.mirrorctl())
	}
	return on[0]
}

// mirrorctl is the part of the scrape that is ours, for failure messages.
func (m metrics) mirrorctl() string {
	var b strings.Builder
	for _, l := range strings.Split(m.text, "\n") {
		if strings.HasPrefix(l, "mirrorctl_") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

var metricsURL = regexp.MustCompile(`metrics at (http://\S+/metrics)`)

// writeLoad writes 64 KiB blocks through dir and fsyncs each, until stop is called; stop returns how
// many blocks were written and the first error.
func writeLoad(t *testing.T, dir string) (stop func() (int, error)) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "load"))
	if err != nil {
		t.Fatal(err)
	}
	quit, done := make(chan struct{}), make(chan struct{})
	var n int
	var werr error
	go func() {
		defer close(done)
		defer f.Close()
		block := make([]byte, 64<<10)
		for {
			select {
			case <-quit:
				return
			default:
			}
			off := int64(n%256) * int64(len(block)) // wrap at 16 MiB
			if _, werr = f.WriteAt(block, off); werr == nil {
				werr = f.Sync()
			}
			if werr != nil {
				return
			}
			n++
		}
	}()
	var stopped bool
	stop = func() (int, error) {
		if !stopped {
			stopped = true
			close(quit)
			<-done
		}
		return n, werr
	}
	t.Cleanup(func() { stop() })
	return stop
}

// TestMetrics_CountersMoveAndDegrade: while a workload writes and fsyncs through the mount, the byte,
// operation, write and fsync counters move between two scrapes; when the mirror's disk dies, a write
// and an fsync through the mount turn the state gauge to degraded; a resync onto a new disk brings it
// back to in_sync; and the endpoint goes away with the mount.
func TestMetrics_CountersMoveAndDegrade(t *testing.T) {
	needFUSE(t)
	disk := newDisk(t, 300<<20)
	primary, _, mp := dirs(t)
	mirrorDir := disk.sub(t, "env")
	m := startMount(t, primary, mirrorDir, mp, "--metrics-addr", ":0", "--resync-interval", "0")
	m.ExpectDegraded = true
	found := metricsURL.FindStringSubmatch(m.Output())
	if found == nil || !strings.HasPrefix(found[1], "http://127.0.0.1:") {
		t.Fatalf("the mount does not say where its metrics are on loopback:\n%s", m.Output())
	}
	url := found[1]

	first := scrape(t, url)
	if s := first.state(t); s != "in_sync" {
		t.Fatalf("state %s after the mount came up, want in_sync:\n%s", s, first.mirrorctl())
	}
	for _, name := range []string{"mirrorctl_state", "mirrorctl_mirrored_bytes_total", "mirrorctl_mirrored_operations_total",
		"mirrorctl_writes_total", "mirrorctl_pending_operations", "mirrorctl_pending_bytes", "mirrorctl_fsync_duration_seconds",
		"mirrorctl_log_files_sealed_total", "mirrorctl_log_files_retained", "mirrorctl_resync_running",
		"mirrorctl_resync_last_duration_seconds", "mirrorctl_mirror_errors_total", "mirrorctl_primary_errors_total"} {
		if !first.help[name] {
			t.Errorf("no HELP for %s", name)
		}
	}

	stop := writeLoad(t, mp)
	moving := []string{"mirrorctl_mirrored_bytes_total", "mirrorctl_mirrored_operations_total", "mirrorctl_writes_total",
		`mirrorctl_fsync_duration_seconds_count{side="primary"}`, `mirrorctl_fsync_duration_seconds_count{side="mirror"}`,
		`mirrorctl_fsync_duration_seconds_sum{side="mirror"}`}
	var second metrics
	eventually(t, 30*time.Second, "the counters to move between two scrapes", func() bool {
		second = scrape(t, url)
		for _, k := range moving {
			if second.get(t, k) <= first.get(t, k) {
				return false
			}
		}
		return true
	})
	n, err := stop()
	if err != nil || n == 0 {
		t.Fatalf("the workload through the mount: %d blocks, %v", n, err)
	}
	for _, k := range moving {
		t.Logf("%s: %v -> %v", k, first.get(t, k), second.get(t, k))
	}
	for _, side := range []string{"primary", "mirror"} {
		count := second.get(t, `mirrorctl_fsync_duration_seconds_count{side="`+side+`"}`)
		if inf := second.get(t, `mirrorctl_fsync_duration_seconds_bucket{side="`+side+`",le="+Inf"}`); inf != count {
			t.Errorf("%s fsyncs: +Inf bucket %v, count %v", side, inf, count)
		}
	}
	if s := second.state(t); s != "in_sync" {
		t.Errorf("state %s under load, want in_sync", s)
	}
	after := scrape(t, url)
	if p, b := after.get(t, "mirrorctl_pending_operations"), after.get(t, "mirrorctl_pending_bytes"); p != 0 || b != 0 {
		t.Errorf("with the workload stopped: %v operations and %v bytes pending, want 0", p, b)
	}
	if _, ok := after.samples["mirrorctl_degraded_since_timestamp_seconds"]; ok {
		t.Errorf("a degraded-since timestamp while in sync:\n%s", after.mirrorctl())
	}

	// The mirror's disk dies; a write and an fsync through the mount still succeed, and say so.
	disk.Shutdown(t)
	before := time.Now()
	writeFileSynced(t, filepath.Join(mp, "after-the-mirror-died"), "x")
	dead := scrape(t, url)
	if s := dead.state(t); s != "degraded" {
		t.Fatalf("state %s after the mirror disk died and an fsync went through, want degraded:\n%s", s, dead.mirrorctl())
	}
	if e := dead.get(t, "mirrorctl_mirror_errors_total"); e < 1 {
		t.Errorf("%v mirror errors after the mirror disk died", e)
	}
	since := dead.get(t, "mirrorctl_degraded_since_timestamp_seconds")
	if ts := time.Unix(0, int64(since*1e9)); ts.Before(before.Add(-time.Second)) || ts.After(time.Now()) {
		t.Errorf("degraded since %s, want between %s and now", ts, before)
	}
	if p := dead.get(t, "mirrorctl_degraded_paths"); p < 1 {
		t.Errorf("%v out-of-date paths while degraded", p)
	}

	// A new disk and a resync: syncing while it copies, in sync again after, with its duration.
	// 128 MiB written while degraded make the resync last long enough to be seen.
	big, err := os.Create(filepath.Join(mp, "big"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 128; i++ {
		if _, err := big.Write(make([]byte, 1<<20)); err != nil {
			t.Fatal(err)
		}
	}
	big.Close()
	disk.Replace(t)
	resync := exec.Command(bin, "resync", mp)
	var resyncOut syncbuf.Buffer
	resync.Stdout, resync.Stderr = &resyncOut, &resyncOut
	if err := resync.Start(); err != nil {
		t.Fatal(err)
	}
	resynced := make(chan error, 1)
	go func() { resynced <- resync.Wait() }()
	t.Cleanup(func() { _ = resync.Process.Kill() })
	var during metrics
	seen := false
	for running := true; running; {
		select {
		case err := <-resynced:
			if err != nil {
				t.Fatalf("resync onto a new disk: %v: %s", err, resyncOut.String())
			}
			running = false
		default:
			during = scrape(t, url)
			seen = seen || during.state(t) == "syncing" && during.get(t, "mirrorctl_resync_running") == 1 &&
				during.get(t, "mirrorctl_resync_expected_bytes") >= 128<<20
			time.Sleep(10 * time.Millisecond) // pacing the scrapes, not waiting for a condition
		}
	}
	if !seen {
		t.Errorf("no scrape during the resync said syncing with its expected bytes; the last:\n%s", during.mirrorctl())
	}
	back := scrape(t, url)
	if s := back.state(t); s != "in_sync" {
		t.Errorf("state %s after the resync, want in_sync:\n%s", s, back.mirrorctl())
	}
	if d, r := back.get(t, "mirrorctl_resync_last_duration_seconds"), back.get(t, "mirrorctl_resync_running"); d <= 0 || r != 0 {
		t.Errorf("after a resync: last duration %v s, running %v", d, r)
	}
	m.Stop(t)
	if resp, err := http.Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("%s still answers after the mount stopped", url)
	}
}

func writeFileSynced(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("fsync through the mount with a dead mirror (degrade policy): %v", err)
	}
}

// TestMetrics_Refusals: a --metrics-addr that is not loopback is bad usage (exit 2), and a port in use
// is a failure naming the address; either way nothing is mounted and nothing written to either tree.
func TestMetrics_Refusals(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name   string
		flags  []string
		code   int
		errHas string
	}{
		{"not loopback", []string{"--metrics-addr", "0.0.0.0:9477"}, 2, "--metrics-allow-remote"},
		{"any address", []string{"--metrics-addr", "[::]:9477"}, 2, "not a loopback address"},
		{"no port", []string{"--metrics-addr", "127.0.0.1"}, 2, "give a port"},
		{"port in use", []string{"--metrics-addr", busy.Addr().String()}, 1, "cannot listen on " + busy.Addr().String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			primary, mirrorDir, mp := dirs(t)
			args := append([]string{"mount", "--primary", primary, "--mirror", mirrorDir}, tc.flags...)
			r := runBounded(t, mp, append(args, mp)...)
			msg := strings.TrimSpace(r.Stderr)
			if r.Code != tc.code || !strings.Contains(msg, tc.errHas) || strings.Contains(msg, "\n") {
				t.Errorf("want exit %d and one line with %q: %s", tc.code, tc.errHas, r)
			}
			if isMountPoint(mp) {
				t.Errorf("%s is mounted after the refusal", mp)
			}
			for _, d := range []string{primary, mirrorDir} {
				if ents, _ := os.ReadDir(d); len(ents) != 0 {
					t.Errorf("the refusal wrote %s into %s", ents[0].Name(), d)
				}
			}
		})
	}
}

// runBounded runs mirrorctl and expects it to end within 10 seconds; a mount that serves instead is
// killed and its mount point detached, so that a broken refusal cannot hang the tests or leave a mount.
func runBounded(t *testing.T, mp string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out, errb syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	lazyUnmount(mp)
	r := result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("mirrorctl %v still ran after 10 s (killed): %s", args, r)
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		t.Fatal(fmt.Errorf("mirrorctl %v: %w", args, err))
	}
	return r
}

// TestMetrics_EngineAndTheLogAPromoteWouldReplay: the metrics name the mirror's engine and, for
// SQLite, the WAL bytes not checkpointed that a promote would replay.
func TestMetrics_EngineAndTheLogAPromoteWouldReplay(t *testing.T) {
	needFUSE(t)
	primary, mirrorDir, mp := dirs(t)
	m := startMount(t, primary, mirrorDir, mp, "--metrics-addr", ":0", "--engine", "sqlite")
	found := metricsURL.FindStringSubmatch(m.Output())
	if found == nil {
		t.Fatalf("the mount does not say where its metrics are:\n%s", m.Output())
	}
	var s metrics
	eventually(t, 20*time.Second, "the engine's metrics", func() bool {
		s = scrape(t, found[1])
		_, ok := s.samples["mirrorctl_log_bytes_since_checkpoint"]
		return ok
	})
	if v := s.get(t, `mirrorctl_engine_info{engine="sqlite"}`); v != 1 {
		t.Errorf("mirrorctl_engine_info{engine=\"sqlite\"} = %v, want 1:\n%s", v, s.mirrorctl())
	}
	if v := s.get(t, "mirrorctl_log_bytes_since_checkpoint"); v != 0 {
		t.Errorf("an empty SQLite environment has %v WAL bytes to replay, want 0", v)
	}
	m.Stop(t)
}
