package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mirrorctl/mirrorctl/host"

	"github.com/mirrorctl/mirrorctl/recovery"
	"github.com/urfave/cli/v2"
)

func drillCommand() *cli.Command {
	return &cli.Command{
		Name:  "drill",
		Usage: "rehearse a failover end to end on scratch storage and report whether any commit was lost",
		Description: "drill makes a primary and a mirror (as root: two loop-backed xfs file systems, so the primary\n" +
			"disk really dies), mounts them, runs a Berkeley DB workload with synchronous commits through the\n" +
			"mount while recording every acknowledged commit, kills the primary, promotes the mirror, and\n" +
			"checks every recorded commit. It removes everything it made, also when interrupted.\n\n" +
			examples("mirrorctl drill", "the default drill (what make demo runs)",
				"mirrorctl drill --kill mount --duration 30s --value-size 4096", "kill the mount process instead of the disk, longer, bigger values",
				"mirrorctl drill --json", "the outcome as JSON (lost must be 0)"),
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "duration", Value: 8 * time.Second, Usage: "how long the workload runs before the primary dies"},
			&cli.StringFlag{Name: "kill", Value: "auto", Usage: "how the primary dies: `disk` (xfs shutdown), mount (SIGKILL of the mount process) or auto"},
			&cli.IntFlag{Name: "value-size", Value: 256, Usage: "bytes per value"},
			&cli.StringFlag{Name: "dir", Usage: "scratch directory (default: a new temporary directory)", TakesFile: true},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
			bdbUtilsFlag, noProgressFlag,
		},
		Action: runDrill,
	}
}

// drillResult is the outcome of a drill.
type drillResult struct {
	Storage          string        `json:"storage"`
	Failure          string        `json:"failure"`
	Acknowledged     int           `json:"acknowledged"`
	Found            int           `json:"found"`
	Lost             int           `json:"lost"`
	Wrong            int           `json:"wrong"`
	PromoteTime      time.Duration `json:"promote_ns"`
	ReplayedLogs     int           `json:"replayed_logs"`
	LogFiles         int           `json:"log_files"`
	CatastrophicTime time.Duration `json:"catastrophic_ns"`
}

func runDrill(c *cli.Context) error {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := c.App.Writer
	say := func(format string, args ...any) {
		if !c.Bool("json") {
			fmt.Fprintf(out, "drill: "+format+"\n", args...)
		}
	}
	eng, err := engineFor(c)
	if err != nil {
		return err
	}
	if err := eng.Available(); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	kill := c.String("kill")
	disks, why := canMakeDisks()
	switch kill {
	case "auto":
		kill = "mount"
		if disks {
			kill = "disk"
		}
	case "disk":
		if !disks {
			return fmt.Errorf("--kill disk needs loop-backed xfs file systems, which cannot be made here (%s): use --kill mount", why)
		}
	case "mount":
	default:
		return usageError("--kill %q: use disk, mount or auto", kill)
	}

	base := c.String("dir")
	if base == "" {
		if base, err = os.MkdirTemp("", "mirrorctl-drill-"); err != nil {
			return err
		}
		defer os.RemoveAll(base)
	} else if err := os.MkdirAll(base, 0o755); err != nil {
		return err
	}
	var res drillResult
	var disk1, disk2 string
	var primaryDisk *scratchDisk
	if disks {
		res.Storage = "two loop-backed xfs file systems"
		d1, err := newScratchDisk(base, "disk1", 512<<20)
		if err != nil {
			return fmt.Errorf("make the primary disk: %w", err)
		}
		defer d1.Remove()
		d2, err := newScratchDisk(base, "disk2", 512<<20)
		if err != nil {
			return fmt.Errorf("make the mirror disk: %w", err)
		}
		defer d2.Remove()
		disk1, disk2, primaryDisk = d1.Dir, d2.Dir, d1
	} else {
		res.Storage = "two directories (" + why + ": no loop devices)"
		disk1, disk2 = filepath.Join(base, "disk1"), filepath.Join(base, "disk2")
	}
	primary, mirrorDir, mp := filepath.Join(disk1, "env"), filepath.Join(disk2, "env"), filepath.Join(base, "srv")
	for _, d := range []string{primary, mirrorDir, mp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	say("primary %s, mirror %s (%s)", primary, mirrorDir, res.Storage)

	mount, err := startChild(ctx, self, filepath.Join(base, "mount.log"), "serving ", "mount", "--primary", primary, "--mirror", mirrorDir, mp)
	if err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	defer mount.stop(mp)
	say("mounted at %s; running the Berkeley DB workload for %s", mp, c.Duration("duration"))

	ackedPath := filepath.Join(base, "acked.txt")
	acked, err := os.Create(ackedPath)
	if err != nil {
		return err
	}
	defer acked.Close()
	var count atomic.Int64
	wl := exec.Command(self, "workload", "run", "--dir", mp, "--value-size", fmt.Sprint(c.Int("value-size")),
		"--log-size", fmt.Sprint(1<<20), "--checkpoint-every", "500")
	wlOut, err := wl.StdoutPipe()
	if err != nil {
		return err
	}
	var wlErr bytes.Buffer
	wl.Stderr = &wlErr
	if err := wl.Start(); err != nil {
		return err
	}
	wlDone := make(chan error, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(wlOut)
		for sc.Scan() {
			fmt.Fprintln(acked, sc.Text())
			count.Add(1)
		}
	}()
	go func() { <-copied; wlDone <- wl.Wait() }()
	defer func() { _ = wl.Process.Kill() }()

	shown := progressReporter(c)
	workload := shown.Start("workload", 0, "commits")
	defer workload.Done()
	every := 2 * time.Second
	if workload != nil {
		every = 500 * time.Millisecond // the bar replaces the lines
	}
	tick := time.NewTicker(every)
	started := time.Now()
	deadline := time.After(c.Duration("duration"))
wait:
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-wlDone:
			return fmt.Errorf("the workload stopped before the primary died: %v: %s", err, strings.TrimSpace(wlErr.String()))
		case <-tick.C:
			if workload == nil {
				say("%d commits acknowledged", count.Load())
			}
			// It stops at the deadline: the total is what the rate so far reaches by then.
			n := count.Load()
			workload.Update(n, int64(float64(n)*c.Duration("duration").Seconds()/time.Since(started).Seconds()))
		case <-deadline:
			break wait
		}
	}
	tick.Stop()
	workload.Update(count.Load(), max(count.Load(), 1))
	workload.Done()
	if kill == "disk" {
		res.Failure = "the primary disk died (xfs shutdown) under load"
		if err := primaryDisk.Shutdown(); err != nil {
			return err
		}
	} else {
		res.Failure = "the mount process was killed (SIGKILL) under load"
		_ = mount.cmd.Process.Signal(syscall.SIGKILL)
	}
	say("%s after %d acknowledged commits", res.Failure, count.Load())
	select {
	case <-wlDone:
	case <-time.After(30 * time.Second):
		_ = wl.Process.Kill()
		<-wlDone
	}
	if err := acked.Sync(); err != nil {
		return err
	}
	mount.stop(mp)

	// The same mirror, before promotion, for the catastrophic-recovery comparison.
	catCopy := filepath.Join(base, "catastrophic")
	if out, err := exec.CommandContext(ctx, "cp", "-a", mirrorDir, catCopy).CombinedOutput(); err != nil {
		return fmt.Errorf("copy the mirror for the comparison: %v: %s", err, out)
	}

	steps := shown.Steps() // the elapsed time of each step below, on stderr
	defer steps.Done()
	sayStep := func(format string, args ...any) {
		steps.Done() // before the line, or a bar being redrawn would erase it
		say(format, args...)
		steps.Next(fmt.Sprintf(format, args...))
	}
	sayStep("promoting %s", mirrorDir)
	pr, err := runChildJSON[recovery.Report](ctx, self, "promote", "--no-progress", "--mirror", mirrorDir, "--primary", primary, "--json")
	if err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	res.PromoteTime, res.ReplayedLogs, res.LogFiles = pr.Duration, len(pr.Replayed), pr.LogFiles

	sayStep("checking every acknowledged commit on the promoted environment")
	check := exec.CommandContext(ctx, self, "workload", "check", "--dir", mirrorDir, "--acked", ackedPath,
		"--value-size", fmt.Sprint(c.Int("value-size")))
	var checkOut, checkErr bytes.Buffer
	check.Stdout, check.Stderr = &checkOut, &checkErr
	checkRunErr := check.Run()
	var cr struct{ Acked, Found, Lost, Wrong int }
	if err := json.Unmarshal(checkOut.Bytes(), &cr); err != nil {
		return fmt.Errorf("check: %v: %s%s", checkRunErr, checkOut.String(), checkErr.String())
	}
	res.Acknowledged, res.Found, res.Lost, res.Wrong = cr.Acked, cr.Found, cr.Lost, cr.Wrong

	sayStep("timing a catastrophic recovery of the same mirror, for comparison")
	if _, err := eng.RemoveRegions(catCopy); err != nil {
		return err
	}
	cat, err := eng.Recover(ctx, catCopy, true)
	if err != nil {
		return fmt.Errorf("catastrophic recovery of the copy: %w", err)
	}
	res.CatastrophicTime = cat.Duration
	steps.Done()

	if c.Bool("json") {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printDrill(out, res)
	}
	if res.Lost > 0 || res.Wrong > 0 {
		return fmt.Errorf("%d acknowledged commits lost, %d wrong: the mirror did not hold what the application was told was durable", res.Lost, res.Wrong)
	}
	return nil
}

func printDrill(w io.Writer, r drillResult) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  %-24s %s\n", "storage", r.Storage)
	fmt.Fprintf(w, "  %-24s %s\n", "failure", r.Failure)
	fmt.Fprintf(w, "  %-24s %d\n", "commits acknowledged", r.Acknowledged)
	fmt.Fprintf(w, "  %-24s %d\n", "commits found", r.Found)
	fmt.Fprintf(w, "  %-24s %d\n", "lost", r.Lost)
	fmt.Fprintf(w, "  %-24s %s (normal recovery read %d of %d log files)\n", "promote time", r.PromoteTime.Round(time.Millisecond), r.ReplayedLogs, r.LogFiles)
	fmt.Fprintf(w, "  %-24s %s (same mirror, every log file)\n", "catastrophic recovery", r.CatastrophicTime.Round(time.Millisecond))
}

// child is a mirrorctl subprocess (the mount) that the drill stops at the end.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startChild starts self with args, logging to logPath, and waits until the log shows ready.
func startChild(ctx context.Context, self, logPath, ready string, args ...string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	ch := &child{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(ch.done) }()
	for {
		b, _ := os.ReadFile(logPath)
		if bytes.Contains(b, []byte(ready)) {
			return ch, nil
		}
		select {
		case <-ch.done:
			return nil, fmt.Errorf("exited: %s", strings.TrimSpace(string(b)))
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop unmounts mp so the mount process ends cleanly; it is killed if it does not within 30 s.
func (ch *child) stop(mp string) {
	select {
	case <-ch.done:
	default:
		_ = syscall.Unmount(mp, 0)
		select {
		case <-ch.done:
		case <-time.After(30 * time.Second):
			_ = ch.cmd.Process.Kill()
			<-ch.done
		}
	}
	for i := 0; i < 10; i++ {
		if ok, _ := host.MountedAt(mp); !ok {
			return
		}
		_ = syscall.Unmount(mp, syscall.MNT_DETACH)
	}
}

// runChildJSON runs self with args and decodes its JSON output, even when it exits non-zero.
func runChildJSON[T any](ctx context.Context, self string, args ...string) (T, error) {
	var v T
	cmd := exec.CommandContext(ctx, self, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	runErr := cmd.Run()
	if err := json.Unmarshal(o.Bytes(), &v); err != nil {
		return v, fmt.Errorf("%v: %s", errors.Join(runErr, err), strings.TrimSpace(e.String()))
	}
	if runErr != nil {
		return v, fmt.Errorf("%v: %s", runErr, strings.TrimSpace(e.String()))
	}
	return v, nil
}
