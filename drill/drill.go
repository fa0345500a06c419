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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/internal/versitygw"
	"github.com/mirrorctl/mirrorctl/loopdisk"
	"github.com/mirrorctl/mirrorctl/mountproc"
	"github.com/mirrorctl/mirrorctl/progress"
	"github.com/mirrorctl/mirrorctl/recovery"
)

// Fault is what goes wrong under load.
type Fault string

const (
	FaultAuto        Fault = "auto"         // the disk if loop-backed disks can be made here, else the mount
	FaultDisk        Fault = "disk"         // xfs shutdown of the primary's disk
	FaultMount       Fault = "mount"        // SIGKILL of the mount process
	FaultMirrorDisk  Fault = "mirror-disk"  // xfs shutdown of the mirror's disk; then a new disk and resync
	FaultMirrorFull  Fault = "mirror-full"  // the mirror's file system fills up (ENOSPC); then space freed and resync
	FaultPrimaryFull Fault = "primary-full" // the primary's file system fills up (ENOSPC)
	FaultStop        Fault = "stop"         // a clean stop: the application, then the mount
	// FaultFailover is the primary's disk dying under a mount with --on-primary-error=failover
	// (Options.NoDowntime): the application must not notice.
	FaultFailover Fault = "failover"
)

// Faults are the fault kinds, auto aside, in the order of the README.
var Faults = []Fault{FaultDisk, FaultMount, FaultMirrorDisk, FaultMirrorFull, FaultPrimaryFull, FaultStop, FaultFailover}

// ParseFault reads --kill.
func ParseFault(s string) (Fault, error) {
	f := Fault(s)
	if f == FaultAuto || slices.Contains(Faults, f) {
		return f, nil
	}
	return "", fmt.Errorf("--kill %q: use disk, mount, mirror-disk, mirror-full, primary-full, stop, failover or auto", s)
}

// OnMirror reports whether the fault hits the mirror: the mount degrades, the application keeps
// committing on the primary, and the drill checks the primary and resyncs instead of promoting.
func (f Fault) OnMirror() bool { return f == FaultMirrorDisk || f == FaultMirrorFull }

// needsDisks reports whether the fault needs loop-backed file systems.
func (f Fault) needsDisks() bool { return f != FaultMount && f != FaultStop && f != FaultAuto }

// Options say how to drill.
type Options struct {
	Binary string        // the mirrorctl executable, for the mount, workload and promote
	Engine engine.Engine // for the catastrophic-recovery comparison (Berkeley DB; nil for the others)
	// Workload is the engine of the workload: WorkloadBDB ("": the default), WorkloadSQLite or
	// WorkloadLMDB (engines.go).
	Workload  string
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
	// NoComparison skips the timing of a catastrophic recovery (the fault campaign does not need it).
	NoComparison bool
	// KeepFailed keeps the scratch directory of a drill that lost a commit or failed (Result.Kept),
	// with what is needed to tell where a loss came from: the mirror as it was before promote
	// (mirror-before-promote/), the primary as it was left (primary-after/), the mount's log
	// (mount.log), the workload's output (workload.err), the ledger (acked.txt), promote's report
	// (promote.json) and result.json.
	// Only the loop devices and their images go.
	KeepFailed bool
	// Lose is LoseMachine for a machine loss (both disks, restored from an object store the drill
	// runs), "" for Fault; ArchiveInterval is then the mount's --archive-interval (default 1s).
	Lose            string
	ArchiveInterval time.Duration
	// NoDowntime drills failover without downtime (nodowntime.go): the primary's disk dies under a
	// mount with --on-primary-error=failover, and the application must not notice.
	NoDowntime bool
}

// Result is the outcome of a drill.
type Result struct {
	// Engine is the workload's (Options.Workload), EngineTitle its name for people.
	Engine           string        `json:"engine"`
	EngineTitle      string        `json:"-"`
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
	// Checked is what the acknowledged commits were checked against: "promoted mirror", or for a
	// mirror fault "primary" (the mirror was resynced and verified).
	Checked string `json:"checked,omitempty"`
	// WorkloadEnd is how the workload ended ("" while it ran to the fault), with its last error.
	WorkloadEnd string `json:"workload_end,omitempty"`
	// Kept is the scratch directory kept for a failed drill (Options.KeepFailed).
	Kept string `json:"kept,omitempty"`
	// Lose is "machine" for --lose machine; AtRisk the commits acknowledged after the archive's last
	// push began (the most that may be lost), ArchiveInterval the mount's, RestoreTime the restore's.
	Lose            string        `json:"lose,omitempty"`
	AtRisk          int           `json:"at_risk,omitempty"`
	ArchiveInterval time.Duration `json:"archive_interval_ns,omitempty"`
	RestoreTime     time.Duration `json:"restore_ns,omitempty"`
	// NoDowntime: the longest time between two acknowledged commits from the fault on (the pause
	// the application saw at the switch), and how long attaching and filling a new mirror took.
	NoDowntime   bool          `json:"no_downtime,omitempty"`
	LongestPause time.Duration `json:"longest_pause_ns,omitempty"`
	ResyncTime   time.Duration `json:"attach_mirror_ns,omitempty"`
}

// Err is the drill's verdict: nil when every acknowledged commit was found, intact.
func (r Result) Err() error {
	if r.Lose == LoseMachine {
		if r.Wrong > 0 || r.Lost > r.AtRisk {
			return fmt.Errorf("%d acknowledged commits lost, %d wrong: more than the %d acknowledged after the archive's last push began", r.Lost, r.Wrong, r.AtRisk)
		}
		return nil
	}
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
	mirrorDisk          *loopdisk.Disk
	primary, mirror, mp string
	mount               *mountproc.Process
	ackedPath           string
	acked               *os.File
	commits             atomic.Int64
	ackMu               sync.Mutex // guards ackTimes
	ackTimes            []time.Time
	gateway             string       // --lose machine: the versitygw binary
	store               *objectStore // --lose machine: the drill's object store
	workload            *exec.Cmd
	workloadDone        chan error // how the workload ended (nil: exit status 0)
	workloadErr         string     // where its stderr goes
	workloadEnded       bool
	workloadExit        error
	catCopy             string
	keep                bool     // the scratch directory stays (a failed drill with KeepFailed)
	undo                []func() // run last first when Run returns
}

// Run performs the drill; Result.Err says whether a commit was lost.
func Run(ctx context.Context, o Options) (Result, error) {
	if err := o.Check(); err != nil {
		return Result{}, err
	}
	if o.Fault == FaultFailover {
		o.NoDowntime = true
	}
	d := &drill{o: o}
	d.res.Engine, d.res.EngineTitle = o.workload(), o.engineTitle()
	if d.o.Say == nil {
		d.o.Say = func(string, ...any) {}
	}
	defer d.cleanup()
	err := d.run(ctx)
	if d.o.KeepFailed && d.base != "" && (err != nil || d.res.Err() != nil) {
		d.keepEvidence(err)
	}
	return d.res, err
}

func (d *drill) run(ctx context.Context) error {
	steps := []func(context.Context) error{d.disks, d.startMount, d.runWorkload, d.fault}
	if d.o.Lose == LoseMachine {
		var err error
		if d.gateway, err = versitygw.Find(); err != nil {
			return fmt.Errorf("--lose machine needs an object store: %w", err)
		}
		d.res.Lose, d.res.ArchiveInterval = LoseMachine, d.o.archiveInterval()
		steps = []func(context.Context) error{d.disks, d.startObjectStore, d.startMount, d.runWorkload, d.loseMachine, d.restoreFromStore}
	} else if d.o.NoDowntime {
		d.res.NoDowntime = true
		steps = []func(context.Context) error{d.disks, d.startMount, d.runWorkload, d.failover}
	} else if d.o.Fault.OnMirror() {
		steps = append(steps, d.resyncAndCheckPrimary)
	} else {
		steps = append(steps, d.copyBeforePromote, d.promoteAndCheck)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
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
	default:
		if d.o.Fault.needsDisks() && !canDisks {
			return fmt.Errorf("--kill %s needs loop-backed xfs file systems, which cannot be made here (%s): use --kill mount", d.o.Fault, why)
		}
	}
	base, remove, err := makeScratch(d.o.Dir)
	if err != nil {
		return err
	}
	d.base = base
	d.later(func() {
		if !d.keep { // a failed trial's evidence stays (KeepFailed)
			remove()
		}
	})
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
		d.disk1, d.disk2, d.primaryDisk, d.mirrorDisk = d1.Dir, d2.Dir, d1, d2
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
	var extra, env []string
	if d.o.Fault.OnMirror() {
		extra = []string{"--resync-interval", "0"} // the drill resyncs once the disk is back
	}
	if d.store != nil {
		extra, env = append(extra, d.archiveFlags()...), d.store.env
	}
	if d.o.NoDowntime {
		extra = append(extra, d.noDowntimeExtra()...)
	}
	if w := d.o.workload(); w != WorkloadBDB {
		// The scratch primary starts empty: say which engine's files it will hold, so that the
		// mount knows from the start which of them are rebuilt.
		extra = append(extra, "--engine", w)
	}
	d.mount, err = mountproc.Start(ctx, mountproc.Config{Binary: d.o.Binary, Primary: d.primary, Mirror: d.mirror, Point: d.mp, Extra: extra, Env: env, Log: logf})
	var exited *mountproc.ExitedError
	if errors.As(err, &exited) {
		return fmt.Errorf("mount: exited: %s", strings.TrimSpace(exited.Output))
	}
	if err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	d.later(func() { d.mount.Stop(30 * time.Second) })
	d.o.Say("mounted at %s; running the %s workload for %s", d.mp, d.o.engineTitle(), d.o.Duration)
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
			d.workloadEnded, d.workloadExit = true, err
			return fmt.Errorf("the workload stopped before the fault: %v: %s", err, d.lastErrors())
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
	wl := exec.Command(d.o.Binary, d.workloadArgs()...)
	wlOut, err := wl.StdoutPipe()
	if err != nil {
		return err
	}
	d.workloadErr = filepath.Join(d.base, "workload.err")
	wlErr, err := os.Create(d.workloadErr)
	if err != nil {
		return err
	}
	d.later(func() { wlErr.Close() })
	wl.Stderr = wlErr
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
			d.ackMu.Lock()
			d.ackTimes = append(d.ackTimes, time.Now())
			d.ackMu.Unlock()
			d.commits.Add(1)
		}
	}()
	go func() {
		<-copied
		d.workloadDone <- wl.Wait()
	}()
	d.later(func() {
		if !d.workloadEnded {
			_ = wl.Process.Kill()
			d.waitWorkload(0)
		}
	})
	return nil
}

// waitWorkload waits for the workload to end, at most grace (0: as long as it takes), then kills it.
func (d *drill) waitWorkload(grace time.Duration) error {
	if d.workloadEnded {
		return d.workloadExit
	}
	var timeout <-chan time.Time
	if grace > 0 {
		timeout = time.After(grace)
	}
	select {
	case d.workloadExit = <-d.workloadDone:
	case <-timeout:
		_ = d.workload.Process.Kill()
		d.workloadExit = <-d.workloadDone
	}
	d.workloadEnded = true
	if d.workloadExit != nil {
		d.res.WorkloadEnd = fmt.Sprintf("%v: %s", d.workloadExit, d.lastErrors())
	} else {
		d.res.WorkloadEnd = "exit 0"
	}
	return d.workloadExit
}

// stopWorkload asks the workload to stop (SIGINT: it closes the environment and exits 0).
func (d *drill) stopWorkload() error {
	_ = d.workload.Process.Signal(os.Interrupt)
	return d.waitWorkload(time.Minute)
}

// lastErrors is the end of what the workload printed on stderr: its last errors.
func (d *drill) lastErrors() string {
	b, _ := os.ReadFile(d.workloadErr)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

// fault makes the fault under load, waits for the workload to end (for a mirror fault: lets it go
// on committing on the primary, then stops it cleanly), makes the ledger durable and, unless the
// mirror is to be resynced through it, stops the mount.
func (d *drill) fault(ctx context.Context) error {
	at := d.commits.Load()
	var err error
	switch d.o.Fault {
	case FaultDisk:
		d.res.Failure = "the primary disk died (xfs shutdown) under load"
		err = d.primaryDisk.Shutdown()
	case FaultMount:
		d.res.Failure = "the mount process was killed (SIGKILL) under load"
		err = d.mount.Cmd().Process.Signal(syscall.SIGKILL)
	case FaultPrimaryFull:
		d.res.Failure = "the primary's file system filled up (ENOSPC) under load"
		err = fill(d.disk1)
	case FaultMirrorDisk:
		d.res.Failure = "the mirror disk died (xfs shutdown) under load"
		err = d.mirrorDisk.Shutdown()
	case FaultMirrorFull:
		d.res.Failure = "the mirror's file system filled up (ENOSPC) under load"
		err = fill(d.disk2)
	case FaultStop:
		d.res.Failure = "a clean stop (the application, then the mount) under load"
	}
	if err != nil {
		return err
	}
	d.o.Say("%s after %d acknowledged commits", d.res.Failure, at)
	switch d.o.Fault {
	case FaultStop:
		if err := d.stopWorkload(); err != nil {
			return fmt.Errorf("the workload did not stop cleanly: %s", d.res.WorkloadEnd)
		}
	case FaultMirrorDisk, FaultMirrorFull:
		if err := d.keepCommitting(ctx, at); err != nil {
			return err
		}
	case FaultPrimaryFull:
		// The application gets ENOSPC when its writes need space; if none did within the grace, it is
		// stopped: either way every commit it was told about must survive.
		select {
		case <-time.After(5 * time.Second):
		case d.workloadExit = <-d.workloadDone:
			d.workloadDone <- d.workloadExit
		}
		if !d.workloadEnded {
			_ = d.workload.Process.Signal(os.Interrupt)
		}
		_ = d.waitWorkload(time.Minute)
	default:
		_ = d.waitWorkload(30 * time.Second)
	}
	// The ledger's count until the check reads it back (a trial that fails before says how many).
	d.res.Acknowledged = int(d.commits.Load())
	if err := d.acked.Sync(); err != nil {
		return err
	}
	if !d.o.Fault.OnMirror() {
		d.mount.Stop(30 * time.Second)
	}
	if d.o.Fault == FaultStop {
		if err := d.verify(ctx, d.primary, d.mirror); err != nil {
			return fmt.Errorf("after a clean stop: %w", err)
		}
	}
	return nil
}

// keepCommitting is a mirror fault's expected course: the mount degrades, the application goes on
// committing on the primary without an error, and then stops cleanly.
func (d *drill) keepCommitting(ctx context.Context, at int64) error {
	if err := d.waitState(ctx, "degraded", at, 100); err != nil {
		return err
	}
	if err := d.stopWorkload(); err != nil {
		return fmt.Errorf("the workload did not stop cleanly on a degraded mount: %s", d.res.WorkloadEnd)
	}
	return nil
}

// resyncAndCheckPrimary repairs the mirror (a new disk, or space freed), resyncs it through the
// mount, stops the mount, verifies the pair and checks every acknowledged commit on the primary.
func (d *drill) resyncAndCheckPrimary(ctx context.Context) error {
	switch d.o.Fault {
	case FaultMirrorDisk:
		if err := d.mirrorDisk.Replace(); err != nil {
			return fmt.Errorf("replace the dead mirror disk: %w", err)
		}
	case FaultMirrorFull:
		if err := os.Remove(filepath.Join(d.disk2, fillerName)); err != nil {
			return fmt.Errorf("free the mirror's space: %w", err)
		}
	}
	d.o.Say("resyncing the mirror through %s", d.mp)
	if out, err := exec.CommandContext(ctx, d.o.Binary, "resync", "--no-progress", d.mp).CombinedOutput(); err != nil {
		return fmt.Errorf("resync: %v: %s", err, strings.TrimSpace(string(out)))
	}
	d.mount.Stop(30 * time.Second)
	if err := d.verify(ctx, d.primary, d.mirror); err != nil {
		return fmt.Errorf("after resync: %w", err)
	}
	d.res.Checked = "primary"
	return d.check(ctx, d.primary)
}

// verify runs `mirrorctl verify` of the stopped pair.
func (d *drill) verify(ctx context.Context, primary, mirrorDir string) error {
	if out, err := exec.CommandContext(ctx, d.o.Binary, "verify", "--primary", primary, "--mirror", mirrorDir).CombinedOutput(); err != nil {
		return fmt.Errorf("verify: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// copyBeforePromote copies the mirror before promote touches it: for the catastrophic-recovery
// comparison, and (KeepFailed) as evidence should a commit be lost.
func (d *drill) copyBeforePromote(ctx context.Context) error {
	if d.o.KeepFailed {
		if out, err := exec.CommandContext(ctx, "cp", "-a", d.mirror, filepath.Join(d.base, "mirror-before-promote")).CombinedOutput(); err != nil {
			return fmt.Errorf("copy the mirror before promote: %v: %s", err, out)
		}
	}
	if !d.o.comparison() {
		return nil
	}
	return d.copyForComparison(ctx)
}

// keepEvidence keeps the scratch directory of a failed drill: the primary as it was left (its
// disk mounted again if it died), the result and the error; the disks themselves go.
func (d *drill) keepEvidence(runErr error) {
	d.keep = true
	d.res.Kept = d.base
	if d.o.Fault == FaultDisk && d.primaryDisk != nil {
		_ = d.primaryDisk.Remount() // xfs replays its journal: what the primary disk really held
	}
	if d.primary != "" {
		_ = exec.Command("cp", "-a", d.primary, filepath.Join(d.base, "primary-after")).Run()
	}
	if d.catCopy != "" {
		os.RemoveAll(d.catCopy) // recovered: no evidence
	}
	b, _ := json.MarshalIndent(d.res, "", "  ")
	_ = os.WriteFile(filepath.Join(d.base, "result.json"), append(b, '\n'), 0o644)
	if runErr != nil {
		_ = os.WriteFile(filepath.Join(d.base, "error.txt"), []byte(runErr.Error()+"\n"), 0o644)
	}
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
		skip bool
	}{
		{fmt.Sprintf("promoting %s", d.mirror), d.promote, false},
		{"checking every acknowledged commit on the promoted environment", func(ctx context.Context) error {
			d.res.Checked = "promoted mirror"
			return d.check(ctx, d.mirror)
		}, false},
		{"timing a catastrophic recovery of the same mirror, for comparison", d.catastrophic, d.catCopy == ""},
	} {
		if s.skip {
			continue
		}
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
	if d.o.KeepFailed { // what promote said the mirror missed, should a commit turn out lost
		b, _ := json.MarshalIndent(pr, "", "  ")
		_ = os.WriteFile(filepath.Join(d.base, "promote.json"), append(b, '\n'), 0o644)
	}
	return nil
}

// check runs `mirrorctl workload check` of every acknowledged commit on dir.
func (d *drill) check(ctx context.Context, dir string) error {
	check := exec.CommandContext(ctx, d.o.Binary, d.checkArgs(dir)...)
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
	return runChildJSONEnv[T](ctx, nil, self, args...)
}

// runChildJSONEnv is runChildJSON with more environment variables for the child.
func runChildJSONEnv[T any](ctx context.Context, env []string, self string, args ...string) (T, error) {
	var v T
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Env = append(os.Environ(), env...)
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
