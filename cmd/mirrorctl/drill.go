package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mirrorctl/mirrorctl/drill"
	"github.com/mirrorctl/mirrorctl/torture"
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
				"mirrorctl drill --json", "the outcome as JSON (lost must be 0)",
				"mirrorctl drill --lose machine", "both disks die; restore from the object store (RPO and RTO)",
				"mirrorctl drill --trials 200 --duration 8s", "a fault campaign: 200 drills, each a random fault kind at a random moment up to 8s (make torture)"),
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "duration", Value: 8 * time.Second, Usage: "how long the workload runs before the fault (with --trials: the latest moment of a random one)"},
			&cli.StringFlag{Name: "kill", Value: "auto", Usage: "the fault: `disk` (xfs shutdown of the primary's), mount (SIGKILL of the mount process), mirror-disk, mirror-full, primary-full (ENOSPC), stop (clean), failover (the primary disk dies under --on-primary-error=failover: as --no-downtime) or auto (with --trials: every kind)"},
			&cli.IntFlag{Name: "trials", Usage: "run a fault campaign of N drills, each a random fault kind at a random moment, and print a table by kind"},
			&cli.Int64Flag{Name: "seed", Usage: "with --trials: the seed of the random kinds and moments (0: from the clock; printed, to replay a campaign)"},
			&cli.StringFlag{Name: "lose", Usage: "`machine`: lose both disks with the mount (the machine burns) and restore from an object store the drill runs (versitygw, make versitygw); the table shows the commits lost (at most those of the last archive interval) and the time to restore"},
			&cli.BoolFlag{Name: "no-downtime", Usage: "drill failover without downtime: the primary disk dies under a mount with --on-primary-error=failover; the application must go on without an error while a new mirror is attached; the table shows the longest pause it saw"},
			&cli.DurationFlag{Name: "archive-interval", Value: time.Second, Usage: "with --lose machine, the mount's --archive-interval"},
			&cli.IntFlag{Name: "value-size", Value: 256, Usage: "bytes per value"},
			&cli.StringFlag{Name: "dir", Usage: "make the scratch directory in `DIR` (default: the system's temporary directory); the drill removes what it made there, nothing else", TakesFile: true},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
			drillEngineFlag, bdbUtilsFlag, noProgressFlag,
		},
		Action: runDrill,
	}
}

func runDrill(c *cli.Context) error {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	out := c.App.Writer
	fault, err := drill.ParseFault(c.String("kill"))
	if err != nil {
		return usageError("%v", err)
	}
	lose, err := drill.ParseLose(c.String("lose"))
	if err != nil {
		return usageError("%v", err)
	}
	if c.Bool("no-downtime") && c.IsSet("trials") {
		return usageError("--no-downtime does not go with --trials: a campaign drills it as the fault kind failover (--kill failover)")
	}
	if lose != "" && (c.IsSet("kill") || c.IsSet("trials")) {
		return usageError("--lose machine does not go with --kill or --trials: the machine loss is its own fault")
	}
	if iv := c.Duration("archive-interval"); iv <= 0 {
		return usageError("--archive-interval %s is not a duration above zero: write it like 1s", iv)
	}
	o := drill.Options{
		Lose: lose, ArchiveInterval: c.Duration("archive-interval"), NoDowntime: c.Bool("no-downtime"),
		Fault: fault, Duration: c.Duration("duration"), ValueSize: c.Int("value-size"), Dir: c.String("dir"),
		Say: func(format string, args ...any) {
			if !c.Bool("json") {
				fmt.Fprintf(out, "drill: "+format+"\n", args...)
			}
		},
		Progress: progressReporter(c),
	}
	if o.Workload, err = drill.ParseWorkload(c.String("engine")); err != nil {
		return usageError("%v", err)
	}
	if err := o.Check(); err != nil {
		return usageError("%v", err)
	}
	trials := c.Int("trials")
	if trials < 0 {
		return usageError("--trials %d: give a number of drills (0: one drill)", trials)
	}
	if trials > 0 {
		if c.IsSet("dir") {
			return usageError("--dir does not go with --trials: each trial has a scratch directory of its own, kept only if it fails")
		}
		if c.Duration("duration") <= torture.MinMoment {
			return usageError("--duration %s: with --trials it must be longer than %s", c.Duration("duration"), torture.MinMoment)
		}
	}
	if err := drillEngine(c, &o); err != nil {
		return err
	}
	if o.Binary, err = os.Executable(); err != nil {
		return err
	}
	if trials > 0 {
		return runTorture(ctx, c, o, fault)
	}
	res, err := drill.Run(ctx, o)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if err := writeJSON(out, res); err != nil {
			return err
		}
	} else {
		printDrill(out, res)
	}
	return res.Err()
}

// runTorture runs the fault campaign of --trials: a line per trial, then the table by fault kind.
func runTorture(ctx context.Context, c *cli.Context, o drill.Options, fault drill.Fault) error {
	out := c.App.Writer
	var faults []drill.Fault
	if fault != drill.FaultAuto {
		faults = []drill.Fault{fault}
	}
	seed := c.Int64("seed")
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	if !c.Bool("json") {
		fmt.Fprintf(out, "torture: %d trials, seed %d, faults at random moments up to %s\n", c.Int("trials"), seed, c.Duration("duration"))
	}
	s := torture.Run(ctx, torture.Options{
		Drill:  drill.Options{Binary: o.Binary, Engine: o.Engine, Workload: o.Workload, ValueSize: c.Int("value-size")},
		Trials: c.Int("trials"), MaxMoment: c.Duration("duration"), Seed: seed, Faults: faults,
		Trial: func(t torture.Trial) {
			if !c.Bool("json") {
				fmt.Fprintln(out, "torture: "+t.Line())
			}
		},
	})
	if c.Bool("json") {
		if err := writeJSON(out, s); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(out)
		s.WriteTable(out)
	}
	return s.Err()
}

func printDrill(w io.Writer, r drill.Result) {
	fmt.Fprintln(w)
	if r.Lose == drill.LoseMachine {
		fmt.Fprintf(w, "  %-24s %s\n", "storage", r.Storage)
		fmt.Fprintf(w, "  %-24s %s\n", "failure", r.Failure)
		fmt.Fprintf(w, "  %-24s %d\n", "commits acknowledged", r.Acknowledged)
		fmt.Fprintf(w, "  %-24s %d\n", "commits restored", r.Found)
		fmt.Fprintf(w, "  %-24s %d (at most %d: acknowledged after the archive's last push began, every %s)\n", "lost", r.Lost, r.AtRisk, r.ArchiveInterval)
		fmt.Fprintf(w, "  %-24s %s (from the object store onto a fresh directory, verified)\n", "time to restore", r.RestoreTime.Round(time.Millisecond))
		return
	}
	fmt.Fprintf(w, "  %-24s %s\n", "storage", r.Storage)
	fmt.Fprintf(w, "  %-24s %s\n", "failure", r.Failure)
	fmt.Fprintf(w, "  %-24s %d\n", "commits acknowledged", r.Acknowledged)
	fmt.Fprintf(w, "  %-24s %d\n", "commits found", r.Found)
	fmt.Fprintf(w, "  %-24s %d\n", "lost", r.Lost)
	if r.NoDowntime {
		fmt.Fprintf(w, "  %-24s none (the application committed on through the switch)\n", "application errors")
		fmt.Fprintf(w, "  %-24s %s (between two acknowledged commits, from the fault on)\n", "longest pause", r.LongestPause.Round(time.Millisecond))
		fmt.Fprintf(w, "  %-24s %s (a new mirror attached and filled while the application ran)\n", "redundancy back in", r.ResyncTime.Round(time.Millisecond))
		return
	}
	if printDrillPromote(w, r) { // an engine without a log history (drill_engine.go)
		return
	}
	fmt.Fprintf(w, "  %-24s %s (normal recovery read %d of %d log files)\n", "promote time", r.PromoteTime.Round(time.Millisecond), r.ReplayedLogs, r.LogFiles)
	fmt.Fprintf(w, "  %-24s %s (same mirror, every log file)\n", "catastrophic recovery", r.CatastrophicTime.Round(time.Millisecond))
}
