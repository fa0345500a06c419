package drill

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/loopdisk"
	"github.com/mirrorctl/mirrorctl/mountproc"
	"github.com/mirrorctl/mirrorctl/progress"
	"github.com/mirrorctl/mirrorctl/recovery"
)

// Fault is how the primary dies.
type Fault string

const (
	FaultAuto  Fault = "auto"  // the disk if loop-backed disks can be made here, else the mount
	FaultDisk  Fault = "disk"  // xfs shutdown of the primary's disk
	FaultMount Fault = "mount" // SIGKILL of the mount process
)

// ParseFault reads --kill.
func ParseFault(s string) (Fault, error) {
	switch f := Fault(s); f {
	case FaultAuto, FaultDisk, FaultMount:
		return f, nil
	}
	return "", fmt.Errorf("--kill %q: use disk, mount or auto", s)
}

// Options say how to drill.
type Options struct {
	Binary    string        // the mirrorctl executable, for the mount, workload and promote
	Engine    engine.Engine // for the catastrophic-recovery comparison
	Fault     Fault
	Duration  time.Duration // how long the workload runs before the primary dies
	ValueSize int           // bytes per value
	// Dir is where the drill makes its scratch directory (made if missing; "": the system's
	// temporary directory). The drill removes what it made there when it ends, and nothing else.
	Dir string
	// Say, if set, receives each line the drill has to say (without the "drill: " prefix).
	Say func(format string, args ...any)
	// Progress shows the workload and the steps (nil: nothing shown).
	Progress *progress.Reporter
}

// Result is the outcome of a drill.
type Result struct {
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

// Err is the drill's verdict: nil when every acknowledged commit was found, intact.
func (r Result) Err() error {
	if r.Lost > 0 || r.Wrong > 0 {
		return fmt.Errorf("%d acknowledged commits lost, %d wrong: the mirror did not hold what the application was told was durable", r.Lost, r.Wrong)
	}
	return nil
}

// drill is one run: what it made, in the order of the steps.
type drill struct {
	o                   Options
	res                 Result
	base                string
	disk1, disk2        string
	primaryDisk         *loopdisk.Disk // nil: the disks are directories
	primary, mirror, mp string
	mount               *mountproc.Process
	ackedPath           string
	acked               *os.File
	commits             atomic.Int64
	workload            *exec.Cmd
	workloadDone        chan error // how the workload ended, with what it printed on stderr
	catCopy             string
	undo                []func() // run last first when Run returns
}

// Run performs the drill; Result.Err says whether a commit was lost.
func Run(ctx context.Context, o Options) (Result, error) {
	if err := o.Check(); err != nil {
		return Result{}, err
	}
	d := &drill{o: o}
	if d.o.Say == nil {
		d.o.Say = func(string, ...any) {}
	}
	defer d.cleanup()
	steps := []func(context.Context) error{
		d.disks, d.startMount, d.runWorkload, d.fault, d.copyForComparison, d.promoteAndCheck,
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return d.res, err
		}
	}
	return d.res, nil
}

func (d *drill) later(f func()) { d.undo = append(d.undo, f) }

func (d *drill) cleanup() {
	for i := len(d.undo) - 1; i >= 0; i-- {
		d.undo[i]()
	}
}

// disks makes the scratch directory and the two disks (loop-backed xfs file systems when they can
// be made here, else two directories), and the primary, mirror and mount point directories.
func (d *drill) disks(context.Context) error {
	canDisks, why := loopdisk.Available()
	switch d.o.Fault {
	case FaultAuto:
		d.o.Fault = FaultMount
		if canDisks {
			d.o.Fault = FaultDisk
		}
	case FaultDisk:
		if !canDisks {
			return fmt.Errorf("--kill disk needs loop-backed xfs file systems, which cannot be made here (%s): use --kill mount", why)
		}
	}
	base, remove, err := makeScratch(d.o.Dir)
	if err != nil {
		return err
	}
	d.base = base
	d.later(remove)
	if canDisks {
		d.res.Storage = "two loop-backed xfs file systems"
		d1, err := d.scratchDisk("disk1")
		if err != nil {
			return fmt.Errorf("make the primary disk: %w", err)
		}
		d2, err := d.scratchDisk("disk2")
		if err != nil {
			return fmt.Errorf("make the mirror disk: %w", err)
		}
		d.disk1, d.disk2, d.primaryDisk = d1.Dir, d2.Dir, d1
	} else {
		d.res.Storage = "two directories (" + why + ": no loop devices)"
		d.disk1, d.disk2 = filepath.Join(d.base, "disk1"), filepath.Join(d.base, "disk2")
	}
	d.primary, d.mirror, d.mp = filepath.Join(d.disk1, "env"), filepath.Join(d.disk2, "env"), filepath.Join(d.base, "srv")
	for _, dir := range []string{d.primary, d.mirror, d.mp} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	d.o.Say("primary %s, mirror %s (%s)", d.primary, d.mirror, d.res.Storage)
	return nil
}

// scratchDisk makes a 512 MiB disk mounted at base/name, removed when the drill ends.
func (d *drill) scratchDisk(name string) (*loopdisk.Disk, error) {
	dir := filepath.Join(d.base, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	disk, err := loopdisk.New(dir, filepath.Join(d.base, name+".img"), 512<<20)
	if err != nil {
		return nil, err
	}
	d.later(func() { _ = disk.Remove() })
	return disk, nil
}

// startMount mounts the primary with its mirror, logging to base/mount.log.
func (d *drill) startMount(ctx context.Context) error {
	logf, err := os.Create(filepath.Join(d.base, "mount.log"))
	if err != nil {
		return err
	}
	d.later(func() { logf.Close() })
	d.mount, err = mountproc.Start(ctx, mountproc.Config{Binary: d.o.Binary, Primary: d.primary, Mirror: d.mirror, Point: d.mp, Log: logf})
	var exited *mountproc.ExitedError
	if errors.As(err, &exited) {
		return fmt.Errorf("mount: exited: %s", strings.TrimSpace(exited.Output))
	}
	if err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	d.later(func() { d.mount.Stop(30 * time.Second) })
	d.o.Say("mounted at %s; running the Berkeley DB workload for %s", d.mp, d.o.Duration)
	return nil
}

// runWorkload starts the workload on the mount, records every acknowledged commit, and lets it run
// for the drill's duration.
func (d *drill) runWorkload(ctx context.Context) error {
	if err := d.startWorkload(); err != nil {
		return err
	}
	shown := d.o.Progress.Start("workload", 0, "commits")
	defer shown.Done()
	every := 2 * time.Second
	if shown != nil {
		every = 500 * time.Millisecond // the bar replaces the lines
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	started := time.Now()
	deadline := time.After(d.o.Duration)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-d.workloadDone:
			return fmt.Errorf("the workload stopped before the primary died: %v", err)
		case <-tick.C:
			if shown == nil {
				d.o.Say("%d commits acknowledged", d.commits.Load())
			}
			// It stops at the deadline: the total is what the rate so far reaches by then.
			n := d.commits.Load()
			shown.Update(n, int64(float64(n)*d.o.Duration.Seconds()/time.Since(started).Seconds()))
		case <-deadline:
			shown.Update(d.commits.Load(), max(d.commits.Load(), 1))
			return nil
		}
	}
}

// startWorkload starts `mirrorctl workload run` on the mount; each key it prints (a commit
// acknowledged) goes to the acked file.
func (d *drill) startWorkload() error {
	d.ackedPath = filepath.Join(d.base, "acked.txt")
	var err error
	if d.acked, err = os.Create(d.ackedPath); err != nil {
		return err
	}
	d.later(func() { d.acked.Close() })
	wl := exec.Command(d.o.Binary, "workload", "run", "--dir", d.mp, "--value-size", fmt.Sprint(d.o.ValueSize),
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
	d.workload, d.workloadDone = wl, make(chan error, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(wlOut)
		for sc.Scan() {
			fmt.Fprintln(d.acked, sc.Text())
			d.commits.Add(1)
		}
	}()
	go func() {
		<-copied
		err := wl.Wait() // nil too: the workload must not end before the primary dies
		d.workloadDone <- fmt.Errorf("%v: %s", err, strings.TrimSpace(wlErr.String()))
	}()
	d.later(func() { _ = wl.Process.Kill() })
	return nil
}

// fault kills the primary under load, waits for the workload to end, makes the record of
// acknowledged commits durable and stops the mount.
func (d *drill) fault(context.Context) error {
	if d.o.Fault == FaultDisk {
		d.res.Failure = "the primary disk died (xfs shutdown) under load"
		if err := d.primaryDisk.Shutdown(); err != nil {
			return err
		}
	} else {
		d.res.Failure = "the mount process was killed (SIGKILL) under load"
		_ = d.mount.Cmd().Process.Signal(syscall.SIGKILL)
	}
	d.o.Say("%s after %d acknowledged commits", d.res.Failure, d.commits.Load())
	select {
	case <-d.workloadDone:
	case <-time.After(30 * time.Second):
		_ = d.workload.Process.Kill()
		<-d.workloadDone
	}
	if err := d.acked.Sync(); err != nil {
		return err
	}
	d.mount.Stop(30 * time.Second)
	return nil
}

// copyForComparison copies the mirror, before promotion, for the catastrophic-recovery comparison.
func (d *drill) copyForComparison(ctx context.Context) error {
	d.catCopy = filepath.Join(d.base, "catastrophic")
	if out, err := exec.CommandContext(ctx, "cp", "-a", d.mirror, d.catCopy).CombinedOutput(); err != nil {
		return fmt.Errorf("copy the mirror for the comparison: %v: %s", err, out)
	}
	return nil
}

// promoteAndCheck promotes the mirror, checks every acknowledged commit on it, and times a
// catastrophic recovery of the copy; each is a step with its elapsed time on the progress.
func (d *drill) promoteAndCheck(ctx context.Context) error {
	steps := d.o.Progress.Steps()
	defer steps.Done()
	for _, s := range []struct {
		what string
		run  func(context.Context) error
	}{
		{fmt.Sprintf("promoting %s", d.mirror), d.promote},
		{"checking every acknowledged commit on the promoted environment", d.check},
		{"timing a catastrophic recovery of the same mirror, for comparison", d.catastrophic},
	} {
		steps.Done() // before the line, or a bar being redrawn would erase it
		d.o.Say("%s", s.what)
		steps.Next(s.what)
		if err := s.run(ctx); err != nil {
			return err
		}
	}
	return nil
}

// promote runs `mirrorctl promote` on the mirror, with the dead primary named for salvage.
func (d *drill) promote(ctx context.Context) error {
	pr, err := runChildJSON[recovery.Report](ctx, d.o.Binary, "promote", "--no-progress", "--mirror", d.mirror, "--primary", d.primary, "--json")
	if err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	d.res.PromoteTime, d.res.ReplayedLogs, d.res.LogFiles = pr.Duration, len(pr.Replayed), pr.LogFiles
	return nil
}

// check runs `mirrorctl workload check` of every acknowledged commit on the promoted mirror.
func (d *drill) check(ctx context.Context) error {
	check := exec.CommandContext(ctx, d.o.Binary, "workload", "check", "--dir", d.mirror, "--acked", d.ackedPath,
		"--value-size", fmt.Sprint(d.o.ValueSize))
	var checkOut, checkErr bytes.Buffer
	check.Stdout, check.Stderr = &checkOut, &checkErr
	checkRunErr := check.Run()
	var cr struct{ Acked, Found, Lost, Wrong int }
	if err := json.Unmarshal(checkOut.Bytes(), &cr); err != nil {
		return fmt.Errorf("check: %v: %s%s", checkRunErr, checkOut.String(), checkErr.String())
	}
	d.res.Acknowledged, d.res.Found, d.res.Lost, d.res.Wrong = cr.Acked, cr.Found, cr.Lost, cr.Wrong
	return nil
}

// catastrophic times a catastrophic recovery of the copy taken before promotion.
func (d *drill) catastrophic(ctx context.Context) error {
	if _, err := d.o.Engine.RemoveRegions(d.catCopy); err != nil {
		return err
	}
	cat, err := d.o.Engine.Recover(ctx, d.catCopy, true)
	if err != nil {
		return fmt.Errorf("catastrophic recovery of the copy: %w", err)
	}
	d.res.CatastrophicTime = cat.Duration
	return nil
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
