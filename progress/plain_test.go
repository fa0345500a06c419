package progress

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/internal/syncbuf"
)

// fakeClock moves only when the test says, and delivers a tick on each advance.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	ticks chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ticks: make(chan time.Time)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Ticker(time.Duration) (<-chan time.Time, func()) { return c.ticks, func() {} }

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// tick delivers one tick; the send returns once the task's goroutine has taken it.
func (c *fakeClock) tick() { c.ticks <- c.Now() }

// outputLines splits what a task wrote so far into lines.
func outputLines(b *syncbuf.Buffer) []string {
	s := strings.TrimSuffix(b.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// waitLines polls until out holds n lines, and fails with what it holds after a deadline.
func waitLines(t *testing.T, out *syncbuf.Buffer, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(outputLines(out)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("want %d lines, have %q", n, outputLines(out))
		}
		time.Sleep(time.Millisecond)
	}
}

// step is what happens to a task at one moment: the clock moves, the operation reports, and maybe a
// tick of the plain mode's interval arrives.
type step struct {
	after       time.Duration
	done, total int64
	add         int64
	tick        bool
}

const mib = 1 << 20

func TestPlain_Lines(t *testing.T) {
	cases := []struct {
		name  string
		what  string
		total int64
		unit  Unit
		steps []step
		end   time.Duration // clock moves by this before Done
		want  []string
	}{
		{
			name: "bytes with a total: rate and time left, then a last line",
			what: "initial sync", total: 100 * mib, unit: Bytes,
			steps: []step{
				{after: 5 * time.Second, done: 25 * mib, tick: true},
				{after: 5 * time.Second, done: 50 * mib, tick: true},
				{after: 2 * time.Second, done: 100 * mib},
			},
			want: []string{
				"initial sync: 25 MiB of 100 MiB (25%), 5.0 MiB/s, 15s left",
				"initial sync: 50 MiB of 100 MiB (50%), 5.0 MiB/s, 10s left",
				"initial sync: 100 MiB of 100 MiB (100%) in 12s, 8.3 MiB/s",
			},
		},
		{
			name: "shorter than the interval: nothing at all",
			what: "initial sync", total: 10 * mib, unit: Bytes,
			steps: []step{{after: 3 * time.Second, done: 10 * mib}},
		},
		{
			name: "the total arrives with the first report, and a report without one keeps it",
			what: "sync", unit: Bytes,
			steps: []step{
				{after: time.Second, done: 0, total: 40 * mib},
				{after: 4 * time.Second, done: 10 * mib, tick: true},
				{after: 5 * time.Second, done: 20 * mib, total: 0, tick: true},
			},
			want: []string{
				"sync: 10 MiB of 40 MiB (25%), 2.0 MiB/s, 15s left",
				"sync: 20 MiB of 40 MiB (50%), 2.0 MiB/s, 10s left",
				"sync: 20 MiB of 40 MiB (50%) in 10s, 2.0 MiB/s",
			},
		},
		{
			name: "nothing done yet: time left unknown",
			what: "resync", total: 300, unit: "paths",
			steps: []step{{after: 5 * time.Second, tick: true}, {after: 5 * time.Second, add: 300}},
			want: []string{
				"resync: 0 paths of 300 paths (0%), 5s elapsed, time left unknown",
				"resync: 300 paths of 300 paths (100%) in 10s, 30 paths/s",
			},
		},
		{
			name: "counting without a total: rate and elapsed",
			what: "workload", unit: "commits",
			steps: []step{
				{after: 5 * time.Second, add: 40, tick: true},
				{after: 5 * time.Second, add: 20, tick: true},
			},
			end: time.Second,
			want: []string{
				"workload: 40 commits, 8.0 commits/s, 5s elapsed",
				"workload: 60 commits, 6.0 commits/s, 10s elapsed",
				"workload: 60 commits in 11s, 5.5 commits/s",
			},
		},
		{
			name: "a step: elapsed time only",
			what: "running normal recovery",
			steps: []step{
				{after: 5 * time.Second, tick: true},
				{after: 5 * time.Second, tick: true},
			},
			end: 2500 * time.Millisecond,
			want: []string{
				"running normal recovery: 5s elapsed",
				"running normal recovery: 10s elapsed",
				"running normal recovery: took 12.5s",
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := &syncbuf.Buffer{}
			clk := newFakeClock()
			r := New(out, Options{Clock: clk})
			if r.terminal {
				t.Fatal("a buffer was taken for a terminal")
			}
			task := r.Start(c.what, c.total, c.unit)
			lines := 0
			for _, s := range c.steps {
				clk.advance(s.after)
				if s.add != 0 {
					task.Add(s.add)
				} else {
					task.Update(s.done, s.total)
				}
				if s.tick {
					clk.tick()
					lines++
					waitLines(t, out, lines)
				}
			}
			clk.advance(c.end)
			task.Done()
			task.Done() // a second Done writes nothing more
			got := outputLines(out)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			for _, l := range got {
				if strings.ContainsRune(l, '\x1b') {
					t.Errorf("escape code in a plain line: %q", l)
				}
			}
		})
	}
}

func TestReporter_OffAndNilDoNothing(t *testing.T) {
	out := &syncbuf.Buffer{}
	clk := newFakeClock()
	for _, r := range []*Reporter{nil, New(out, Options{Off: true, Clock: clk})} {
		task := r.Start("sync", 10, Bytes)
		task.Update(5, 10)
		task.Add(1)
		task.Done()
		s := r.Steps()
		s.Next("step")
		s.Done()
	}
	if got := outputLines(out); len(got) != 0 {
		t.Fatalf("a reporter that is off wrote %q", got)
	}
}

func TestSteps_EachStepIsATask(t *testing.T) {
	out := &syncbuf.Buffer{}
	clk := newFakeClock()
	s := New(out, Options{Clock: clk}).Steps()
	s.Next("salvaging the log tail")
	clk.advance(time.Second)
	s.Next("running normal recovery") // the first step ends silently: shorter than the interval
	clk.advance(5 * time.Second)
	clk.tick()
	waitLines(t, out, 1)
	clk.advance(time.Second)
	s.Done()
	want := "running normal recovery: 5s elapsed\nrunning normal recovery: took 6s"
	if got := strings.Join(outputLines(out), "\n"); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}
