package foreign

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/internal/testenv"
)

// seen collects what a Watcher reports.
type seen struct {
	mu      sync.Mutex
	changes []Change
}

func (s *seen) add(c Change) {
	s.mu.Lock()
	s.changes = append(s.changes, c)
	s.mu.Unlock()
}

func (s *seen) all() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Change(nil), s.changes...)
}

// waitFor polls until cond holds for what was seen, and fails with all of it otherwise.
func (s *seen) waitFor(t *testing.T, what string, cond func([]Change) bool) []Change {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := s.all()
		if cond(all) {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; seen:\n%s", what, describe(all))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func describe(cs []Change) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "  %s %s dir=%v pid=%d comm=%q lost=%v\n", c.Rel, c.Ops, c.IsDir, c.PID, c.Comm, c.Lost)
	}
	return b.String()
}

// has reports whether some change names rel.
func has(cs []Change, rel string) bool {
	for _, c := range cs {
		if c.Rel == rel {
			return true
		}
	}
	return false
}

// onlySentinel waits until the change to "sentinel" (made last, by another process) is reported and
// fails the test for every other change reported before it, as what; changes arrive in order, so
// whatever should not be reported would have been by then.
func onlySentinel(t *testing.T, s *seen, what string) {
	t.Helper()
	all := s.waitFor(t, "the sentinel", func(cs []Change) bool { return has(cs, "sentinel") })
	for _, c := range all {
		if c.Rel != "sentinel" {
			t.Errorf("%s: %s %s by pid %d", what, c.Rel, c.Ops, c.PID)
		}
	}
}

// watch starts a Watcher on root for the test; the test's cleanup closes it.
func watch(t *testing.T, root string) *seen {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "fanotify on a file system needs root")
	}
	s := &seen{}
	w, err := Watch(root, s.add)
	if errors.Is(err, ErrUnavailable) {
		testenv.SkipOrFail(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// shell runs a shell command in dir as another process.
func shell(t *testing.T, dir, script string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sh -c %q: %v: %s", script, err, out)
	}
}

// TestWatcher_SeesEveryChangeOfAnotherProcess: every change another process makes below the root is
// reported, in order, by the name it has, with the process that made it.
func TestWatcher_SeesEveryChangeOfAnotherProcess(t *testing.T) {
	root := t.TempDir()
	s := watch(t, root)
	// The shell writes f itself (echo is built in), then waits on its input so that its name can
	// still be read when the change is; mkdir, mv and rm are processes of their own.
	cmd := exec.Command("sh", "-c", "echo x > f; mkdir d; mv f d/g; rm d/g; echo done; read x")
	cmd.Dir = root
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	if _, err := stdout.Read(make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		rel   string
		ops   Op
		isDir bool
		comm  string
	}{
		{"f", Create | Modify, false, "sh"},
		{"d", Create, true, "mkdir"},
		{"f", MovedFrom, false, "mv"},
		{"d/g", MovedTo, false, "mv"},
		{"d/g", Delete, false, "rm"},
	}
	// The kernel merges changes to one name by one process that are still queued: each want is made
	// of the next changes to its name, and every change must belong to one.
	all := s.waitFor(t, "the shell's changes", func(cs []Change) bool {
		return len(cs) > 0 && cs[len(cs)-1].Rel == "d/g" && cs[len(cs)-1].Ops&Delete != 0
	})
	i := 0
	for _, w := range want {
		var got Op
		for ; i < len(all) && got&w.ops != w.ops && all[i].Rel == w.rel && all[i].IsDir == w.isDir; i++ {
			c := all[i]
			got |= c.Ops
			if c.Comm != "" && c.Comm != w.comm {
				t.Errorf("%s %s by %q (pid %d), want %q", c.Rel, c.Ops, c.Comm, c.PID, w.comm)
			}
			if c.PID <= 0 || c.PID == os.Getpid() {
				t.Errorf("%s %s by pid %d", c.Rel, c.Ops, c.PID)
			}
		}
		if got&w.ops != w.ops {
			t.Fatalf("want %s %s next; seen:\n%s", w.rel, w.ops, describe(all))
		}
	}
	if i != len(all) {
		t.Fatalf("changes nobody made; seen:\n%s", describe(all))
	}
	if all[0].PID != cmd.Process.Pid || all[0].Comm != "sh" {
		t.Errorf("f was written by the shell, pid %d; reported pid %d (%q)", cmd.Process.Pid, all[0].PID, all[0].Comm)
	}
}

// TestWatcher_IgnoresItsOwnProcess: what the watching process writes itself is never reported.
func TestWatcher_IgnoresItsOwnProcess(t *testing.T) {
	root := t.TempDir()
	s := watch(t, root)
	if err := os.WriteFile(filepath.Join(root, "own"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "owndir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, "own"), filepath.Join(root, "owndir", "own")); err != nil {
		t.Fatal(err)
	}
	// Events are reported in order: once another process's change is seen, ours would have been.
	shell(t, root, ": > sentinel")
	onlySentinel(t, s, "own change reported")
}

// TestWatcher_IgnoresOpensThatChangeNothing: a process that opens a file read-write and closes it
// without writing (as Berkeley DB's utilities do with the logs) changed nothing and is not reported.
func TestWatcher_IgnoresOpensThatChangeNothing(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "log.0000000001"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := watch(t, root)
	shell(t, root, "exec 3<>log.0000000001; exec 3>&-; cat log.0000000001 >/dev/null; : > sentinel")
	onlySentinel(t, s, "an open that changed nothing was reported")
}

// TestWatcher_IgnoresChangesOutsideTheRoot: the mark covers the whole file system; only what lies
// below the root is reported, also for a sibling whose name begins with the root's.
func TestWatcher_IgnoresChangesOutsideTheRoot(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "env")
	for _, d := range []string{root, filepath.Join(base, "env2"), filepath.Join(base, "other")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := watch(t, root)
	shell(t, base, "echo x > env2/f; echo x > other/f; mkdir other/d; echo x > outside; chmod 700 other; : > env/sentinel")
	onlySentinel(t, s, "change outside the root reported")
}

// TestWatcher_FollowsRenamedDirectories: after a directory is renamed, changes below it carry the
// new name, not one remembered from before.
func TestWatcher_FollowsRenamedDirectories(t *testing.T) {
	root := t.TempDir()
	s := watch(t, root)
	shell(t, root, "mkdir a; echo x > a/x")
	s.waitFor(t, "a/x", func(cs []Change) bool { return has(cs, "a/x") })
	shell(t, root, "mv a b; echo y > b/y")
	all := s.waitFor(t, "b/y", func(cs []Change) bool { return has(cs, "b/y") })
	if has(all, "a/y") {
		t.Fatalf("a change below the renamed directory was reported by its old name:\n%s", describe(all))
	}
	if !has(all, "a") || !has(all, "b") {
		t.Fatalf("the rename's two names were not both reported:\n%s", describe(all))
	}
}

// TestWatcher_ReportsLostChanges: when the kernel's queue overflows, the watcher says that anything
// may have changed.
func TestWatcher_ReportsLostChanges(t *testing.T) {
	root := t.TempDir()
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "fanotify on a file system needs root")
	}
	release := make(chan struct{})
	s := &seen{}
	w, err := Watch(root, func(c Change) {
		<-release // hold the reader, so that the kernel's queue (16384 events) fills up
		s.add(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// One event per file (the create and close of one name merge): more than the queue holds, with
	// what the reader took in its first read.
	shell(t, root, `i=0; while [ $i -lt 20000 ]; do : > f$i; i=$((i+1)); done`)
	close(release)
	s.waitFor(t, "a report of lost changes", func(cs []Change) bool {
		for _, c := range cs {
			if c.Lost && c.Rel == "." {
				return true
			}
		}
		return false
	})
}

// TestWatcher_CloseEndsCleanly: Close waits for a notify in progress and ends the reader, closes
// every descriptor, and nothing is reported after it.
func TestWatcher_CloseEndsCleanly(t *testing.T) {
	root := t.TempDir()
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "fanotify on a file system needs root")
	}
	before := openFds(t)
	s := &seen{}
	var started, finished atomic.Int32
	hold := make(chan struct{})
	w, err := Watch(root, func(c Change) {
		started.Add(1)
		<-hold
		s.add(c)
		finished.Add(1)
	})
	if err != nil {
		t.Fatal(err)
	}
	shell(t, root, ": > first")
	eventually(t, "the first change to reach notify", func() bool { return started.Load() > 0 })
	// notify is held; a Close that does not wait for it would return at once, with it unfinished.
	time.AfterFunc(100*time.Millisecond, func() { close(hold) })
	closed := make(chan error)
	go func() { closed <- w.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return: the reader goroutine did not end")
	}
	if f, st := finished.Load(), started.Load(); f != st {
		t.Fatalf("Close returned with notify still running (%d started, %d finished)", st, f)
	}
	select {
	case <-w.done:
	default:
		t.Fatal("Close returned before the reader goroutine ended")
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if after := openFds(t); after != before {
		t.Fatalf("%d descriptors open before Watch, %d after Close", before, after)
	}
	n := len(s.all())
	shell(t, root, ": > after")
	if got := s.all(); len(got) != n {
		t.Fatalf("reported after Close:\n%s", describe(got[n:]))
	}
}

// eventually polls cond until it holds, and fails after a deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func openFds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestWatcher_IgnoreModify: a file marked with IgnoreModify is modified by another process without a
// report (the kernel drops the events); after UnignoreModify its modifications are reported again.
func TestWatcher_IgnoreModify(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "fanotify on a file system needs root")
	}
	root := t.TempDir()
	log := filepath.Join(root, "log.0000000001")
	if err := os.WriteFile(log, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &seen{}
	w, err := Watch(root, s.add)
	if errors.Is(err, ErrUnavailable) {
		testenv.SkipOrFail(t, "%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := w.IgnoreModify(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	shell(t, root, "echo more >> log.0000000001; echo again >> log.0000000001; : > sentinel")
	onlySentinel(t, s, "a modification of an ignored file was reported")
	if err := w.UnignoreModify(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	shell(t, root, "echo after >> log.0000000001")
	s.waitFor(t, "the modification after UnignoreModify", func(cs []Change) bool { return has(cs, "log.0000000001") })
}
