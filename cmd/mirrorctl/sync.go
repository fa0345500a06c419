package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/mirror"
	"github.com/mirrorctl/mirrorctl/progress"
	"github.com/urfave/cli/v2"
)

func syncCommand() *cli.Command {
	return &cli.Command{
		Name:  "sync",
		Usage: "bring a mirror up to date with its primary (no mount running): only what differs is copied",
		Description: "For an environment that is not mounted through mirrorctl, sync performs the manual hot-failover\n" +
			"routine safely while the application keeps running: optionally a checkpoint, then the database\n" +
			"files, then the inactive logs (moved to the mirror, or copied with --keep-primary-logs), then the\n" +
			"active logs, in that order; --recover runs catastrophic recovery on the mirror so it is ready to\n" +
			"open, --archive copies the result to an archival directory. Repeated runs copy only what changed.\n\n" +
			examples(
				"mirrorctl sync --primary /disk1/env --mirror /disk2/env", "bring the mirror of a running, unmounted environment up to date",
				"mirrorctl sync --primary /disk1/env --mirror /disk2/env --checkpoint --recover", "the manual routine: checkpoint, copy, catastrophic recovery",
				"mirrorctl sync --primary /disk1/env --mirror /disk2/env --files --json", "copy a stopped tree as files; report as JSON",
			),
		Flags: []cli.Flag{
			primaryFlag, mirrorFlag, excludeFlag, rebuildFlag, fullFlag, retainFlag, bdbUtilsFlag, noProgressFlag,
			&cli.BoolFlag{Name: "checkpoint", Usage: "force a checkpoint first (db_checkpoint -1)"},
			&cli.BoolFlag{Name: "keep-primary-logs", Usage: "copy the inactive log files instead of moving them off the primary"},
			&cli.BoolFlag{Name: "recover", Usage: "run catastrophic recovery on the mirror afterwards, so that it is ready to open"},
			&cli.StringFlag{Name: "archive", Usage: "then copy the mirror to this archival `DIR`", TakesFile: true},
			&cli.BoolFlag{Name: "files", Usage: "copy the tree as files only (the environment must not be running)"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
		},
		Action: runSync,
	}
}

// syncReport is what sync prints.
type syncReport struct {
	mirror.SyncReport
	Routine      bool          `json:"routine"` // the hot-backup routine of a running environment
	Checkpoint   bool          `json:"checkpoint"`
	LogsCopied   int           `json:"logs_copied"`
	LogsMoved    int           `json:"logs_moved"`
	Recovered    bool          `json:"recovered"`
	RecoveryTime time.Duration `json:"recovery_ns,omitempty"`
	Archive      string        `json:"archive,omitempty"`
}

func runSync(c *cli.Context) error {
	if c.NArg() != 0 {
		return usageError("sync takes no arguments: mirrorctl sync --primary DIR --mirror DIR")
	}
	ps, err := newPairSetup(c)
	if err != nil {
		return err
	}
	eng, policy, pair, mo := ps.eng, ps.policy, ps.pair, ps.opts
	if a := c.String("archive"); a != "" {
		if _, err := mirror.CheckPair(pair.Mirror, a); err != nil {
			return usageError("--archive %s: %v", a, err)
		}
	}
	out := c.App.Writer
	logs, _ := eng.Logs(pair.Primary)
	archiver, isArchiver := eng.(engine.Archiver)
	routine := isArchiver && len(logs) > 0 && !c.Bool("files")
	if (c.Bool("recover") || c.Bool("checkpoint")) && !routine {
		return usageError("--recover and --checkpoint need a %s environment (log files in %s)", eng.Name(), pair.Primary)
	}
	if routine {
		if err := eng.Available(); err != nil {
			return err
		}
	}
	task := progressReporter(c).Start("bringing the mirror up to date", 0, progress.Bytes)
	s, err := mirror.Start(c.Context, pair, mirror.StartOptions{
		Claim:    mirror.ClaimOptions{Rebuild: c.Bool("rebuild-mirror")},
		Holder:   mirror.Holder{PID: os.Getpid(), Command: "sync"},
		Full:     c.Bool("full"),
		Policy:   policy,
		Progress: task.Update,
		Mirror:   mo,
		Skip:     skipLogsIf(routine, eng),
	})
	task.Done()
	if err != nil {
		return err
	}
	rep := syncReport{SyncReport: s.Report, Routine: routine}
	if routine {
		err = hotRoutine(c, s, eng, archiver, &rep)
	}
	if serr := s.Stop(); err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return json.NewEncoder(out).Encode(rep)
	}
	printSync(out, pair, rep)
	return nil
}

// skipLogsIf leaves the log files out of the tree copy of the routine: they are copied after the
// database files, in their own step.
func skipLogsIf(routine bool, eng engine.Engine) func(string) bool {
	if !routine {
		return nil
	}
	return func(rel string) bool { _, ok := eng.LogNumber(rel); return ok }
}

// hotRoutine runs the steps of the manual hot-failover routine that come after the database files:
// logs, recovery, archive. The order is what keeps the copy consistent.
func hotRoutine(c *cli.Context, s *mirror.Session, eng engine.Engine, a engine.Archiver, rep *syncReport) error {
	ctx := c.Context
	primary, target := s.Pair.Primary, s.Pair.Mirror
	steps := progressReporter(c).Steps()
	defer steps.Done()
	// The checkpoint comes first in the manual routine; here the database files were just copied by
	// Start, so a checkpoint now would make them older than the log says: take it before the logs,
	// and copy the database files again (only what changed) after it.
	if c.Bool("checkpoint") {
		steps.Next("checkpoint, then the database files again")
		if err := a.Checkpoint(ctx, primary); err != nil {
			return err
		}
		rep.Checkpoint = true
		r, err := s.Sync(ctx, mirror.SyncOptions{Skip: skipLogsIf(true, eng)})
		if err != nil {
			return err
		}
		rep.BytesCopied += r.BytesCopied
		rep.Copied += r.Copied
	}
	steps.Next("copying the log files")
	inactive, err := a.InactiveLogs(ctx, primary)
	if err != nil {
		return err
	}
	logs, err := eng.Logs(primary)
	if err != nil {
		return err
	}
	rels := make([]string, 0, len(logs))
	for _, l := range logs {
		rels = append(rels, l.Rel)
	}
	r, err := s.SyncPaths(ctx, rels, true)
	if err != nil {
		return fmt.Errorf("copy the log files: %w", err)
	}
	rep.LogsCopied = r.Copied
	rep.BytesCopied += r.BytesCopied
	rep.Copied += r.Copied
	if !c.Bool("keep-primary-logs") {
		for _, rel := range inactive {
			if err := s.RetireLog(rel); err != nil {
				return fmt.Errorf("move inactive log %s to the mirror: %w", rel, err)
			}
			rep.LogsMoved++
		}
	}
	needsRecovery := true
	if c.Bool("recover") {
		steps.Next("catastrophic recovery of the mirror")
		if _, err := eng.RemoveRegions(target); err != nil {
			return err
		}
		rr, err := eng.Recover(ctx, target, true)
		if err != nil {
			return fmt.Errorf("catastrophic recovery of the mirror: %w", err)
		}
		rep.Recovered, rep.RecoveryTime = true, rr.Duration
		needsRecovery = false
	}
	if err := s.UpdateRecord(func(rec *mirror.Record) { rec.NeedsRecovery = needsRecovery }); err != nil {
		return err
	}
	if dir := c.String("archive"); dir != "" {
		steps.Next("copying the mirror to " + dir)
		if err := archiveTo(ctx, target, dir); err != nil {
			return fmt.Errorf("archive to %s: %w", dir, err)
		}
		rep.Archive = dir
	}
	return nil
}

// archiveTo copies the mirror to an archival directory, copying only what differs.
func archiveTo(ctx context.Context, from, to string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	m, err := mirror.Open(from, to, mirror.PolicyFunc(func(rel string) bool { return !mirror.IsMeta(rel) }), mirror.Options{})
	if err != nil {
		return err
	}
	defer m.Close()
	_, err = m.Sync(ctx, mirror.SyncOptions{})
	return err
}

func printSync(out io.Writer, pair mirror.Pair, r syncReport) {
	fmt.Fprintf(out, "mirror %s is in sync with %s: %d entries examined, %d copied (%s written), %d removed, in %s\n",
		pair.Mirror, pair.Primary, r.Examined, r.Copied, humanize.IBytes(uint64(r.BytesCopied)), r.Removed, r.Duration.Round(time.Millisecond))
	if !r.Routine {
		return
	}
	if r.Checkpoint {
		fmt.Fprintln(out, "checkpoint: forced before the logs were copied")
	}
	fmt.Fprintf(out, "logs:       %d copied, %d inactive moved off the primary\n", r.LogsCopied, r.LogsMoved)
	if r.Recovered {
		fmt.Fprintf(out, "recovery:   catastrophic recovery of the mirror took %s: it is ready to open\n", r.RecoveryTime.Round(time.Millisecond))
	} else {
		fmt.Fprintln(out, "recovery:   not run: the copy of a running environment needs catastrophic recovery (sync --recover, or promote --catastrophic)")
	}
	if r.Archive != "" {
		fmt.Fprintf(out, "archive:    copied to %s\n", r.Archive)
	}
}
