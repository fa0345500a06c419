package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mirrorctl/mirrorctl/drill"
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
			&cli.StringFlag{Name: "dir", Usage: "make the scratch directory in `DIR` (default: the system's temporary directory); the drill removes what it made there, nothing else", TakesFile: true},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
			bdbUtilsFlag, noProgressFlag,
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
	o := drill.Options{
		Fault: fault, Duration: c.Duration("duration"), ValueSize: c.Int("value-size"), Dir: c.String("dir"),
		Say: func(format string, args ...any) {
			if !c.Bool("json") {
				fmt.Fprintf(out, "drill: "+format+"\n", args...)
			}
		},
		Progress: progressReporter(c),
	}
	if err := o.Check(); err != nil {
		return usageError("%v", err)
	}
	if o.Engine, err = engineFor(c); err != nil {
		return err
	}
	if err := o.Engine.Available(); err != nil {
		return err
	}
	if o.Binary, err = os.Executable(); err != nil {
		return err
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

func printDrill(w io.Writer, r drill.Result) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  %-24s %s\n", "storage", r.Storage)
	fmt.Fprintf(w, "  %-24s %s\n", "failure", r.Failure)
	fmt.Fprintf(w, "  %-24s %d\n", "commits acknowledged", r.Acknowledged)
	fmt.Fprintf(w, "  %-24s %d\n", "commits found", r.Found)
	fmt.Fprintf(w, "  %-24s %d\n", "lost", r.Lost)
	fmt.Fprintf(w, "  %-24s %s (normal recovery read %d of %d log files)\n", "promote time", r.PromoteTime.Round(time.Millisecond), r.ReplayedLogs, r.LogFiles)
	fmt.Fprintf(w, "  %-24s %s (same mirror, every log file)\n", "catastrophic recovery", r.CatastrophicTime.Round(time.Millisecond))
}
