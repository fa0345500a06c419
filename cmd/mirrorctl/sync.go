package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/hotbackup"
	"github.com/mirrorctl/mirrorctl/lock"
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
			primaryFlag, mirrorFlag, engineFlag, excludeFlag, rebuildFlag, fullFlag, retainFlag, bdbUtilsFlag, noProgressFlag,
			&cli.BoolFlag{Name: "checkpoint", Usage: "force a checkpoint first (db_checkpoint -1)"},
			&cli.BoolFlag{Name: "keep-primary-logs", Usage: "copy the inactive log files instead of moving them off the primary"},
			&cli.BoolFlag{Name: "recover", Usage: "run catastrophic recovery on the mirror afterwards, so that it is ready to open"},
			&cli.StringFlag{Name: "archive", Usage: "then copy the mirror to this archival `DIR`: new, empty or an earlier archive of this environment, outside both trees", TakesFile: true},
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
	// Before anything is written: a refused archive leaves both trees as they were.
	if a := c.String("archive"); a != "" {
		if _, err := hotbackup.CheckArchive(a, pair); err != nil {
			return usageError("--archive: %v", err)
		}
	}
	out := c.App.Writer
	// The hot-backup routine is for an engine with a log history and its archiver (Berkeley DB).
	full, isFull := eng.(engine.Engine)
	archiver, isArchiver := eng.(engine.Archiver)
	var logs []engine.LogFile
	if isFull {
		logs, _ = full.Logs(pair.Primary)
	}
	routine := isFull && isArchiver && len(logs) > 0 && !c.Bool("files")
	if (c.Bool("recover") || c.Bool("checkpoint")) && !routine {
		return usageError("--recover and --checkpoint need a %s environment (log files in %s)", eng.Name(), pair.Primary)
	}
	if c.String("archive") != "" && !routine {
		return usageError("--archive is the last step of the %s routine: it needs log files in %s and no --files", eng.Name(), pair.Primary)
	}
	if routine {
		if err := eng.Available(); err != nil {
			return err
		}
	}
	var skip func(string) bool // the routine copies the logs after the database files
	if routine {
		skip = hotbackup.SkipLogs(full)
	}
	task := progressReporter(c).Start("bringing the mirror up to date", 0, progress.Bytes)
	s, err := mirror.Start(c.Context, pair, mirror.StartOptions{
		Claim:    mirror.ClaimOptions{Rebuild: c.Bool("rebuild-mirror")},
		Holder:   lock.Holder{PID: os.Getpid(), Command: "sync"},
		Full:     c.Bool("full"),
		Engine:   ps.record,
		Policy:   policy,
		Progress: task.Update,
		Mirror:   mo,
		Skip:     skip,
	})
	task.Done()
	if err != nil {
		return err
	}
	rep := syncReport{SyncReport: s.Report, Routine: routine}
	if routine {
		err = hotRoutine(c, s, full, archiver, &rep)
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

// hotRoutine runs the steps of the hot-backup routine that come after the database files, with
// their names shown as progress steps.
func hotRoutine(c *cli.Context, s *mirror.Session, eng engine.Engine, a engine.Archiver, rep *syncReport) error {
	steps := progressReporter(c).Steps()
	defer steps.Done()
	r, err := hotbackup.Run(c.Context, s, eng, a, hotbackup.Options{
		Checkpoint:      c.Bool("checkpoint"),
		KeepPrimaryLogs: c.Bool("keep-primary-logs"),
		Recover:         c.Bool("recover"),
		Archive:         c.String("archive"),
		Step:            steps.Next,
	})
	rep.Copied += r.Copied
	rep.BytesCopied += r.BytesCopied
	rep.Checkpoint, rep.LogsCopied, rep.LogsMoved = r.Checkpoint, r.LogsCopied, r.LogsMoved
	rep.Recovered, rep.RecoveryTime, rep.Archive = r.Recovered, r.RecoveryTime, r.Archive
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
