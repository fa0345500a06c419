package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/recovery"
	"github.com/urfave/cli/v2"
)

func promoteCommand() *cli.Command {
	return &cli.Command{
		Name:  "promote",
		Usage: "turn the mirror into the production environment (failover): salvage, normal recovery, checks",
		Description: "promote replays only the log tail since the last checkpoint (the engine's normal recovery),\n" +
			"checks every database, and marks the mirror promoted with a new generation. Stop every process\n" +
			"that uses the old environment first (mirrorctl unmount).\n\n" +
			examples(
				"mirrorctl unmount /srv/env; mirrorctl promote --mirror /disk2/env --primary /disk1/env", "fail over, salvaging the old primary's last log bytes if it is readable",
				"mirrorctl promote --mirror /disk2/env --dry-run", "rehearse on a copy-on-write view; works while mounted",
				"mirrorctl promote --mirror /disk2/env --catastrophic", "replay every retained log (slow; when normal recovery is refused)",
			),
		Flags: []cli.Flag{
			mirrorFlag,
			&cli.StringFlag{Name: "primary", Usage: "the old primary: if still readable, take from it the log tail the mirror lacks", TakesFile: true},
			&cli.BoolFlag{Name: "catastrophic", Usage: "run catastrophic recovery (every retained log) instead of normal recovery"},
			&cli.BoolFlag{Name: "dry-run", Usage: "rehearse on a throwaway copy-on-write view; the mirror is not touched (works while mounted)"},
			&cli.BoolFlag{Name: "force", Usage: "promote a mirror that is degraded or was never in sync (the report says what may be missing)"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
			promoteEngineFlag, bdbUtilsFlag, noProgressFlag,
		},
		Action: runPromote,
	}
}

func runPromote(c *cli.Context) error {
	if c.NArg() != 0 {
		return usageError("promote takes no arguments: mirrorctl promote --mirror DIR [--primary DIR]")
	}
	target, err := requireDir(c, "mirror")
	if err != nil {
		return err
	}
	eng, err := engineFor(c, target)
	if err != nil {
		return err
	}
	if _, ok := eng.(engine.Catastrophic); c.Bool("catastrophic") && !ok {
		return usageError("%s keeps no log history, so there is no catastrophic recovery of %s: promote without --catastrophic", eng.Name(), target)
	}
	abs, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	primary := c.String("primary")
	if primary != "" {
		if primary, err = filepath.Abs(primary); err != nil {
			return err
		}
	}
	out := c.App.Writer
	steps := progressReporter(c).Steps() // each step's elapsed time, on stderr
	step := func(format string, args ...any) {
		steps.Done() // before the line, or a bar being redrawn would erase it
		if !c.Bool("json") {
			fmt.Fprintf(out, "  "+format+"\n", args...)
		}
		steps.Next(fmt.Sprintf(format, args...))
	}
	r, err := recovery.Promote(c.Context, recovery.Options{
		Mirror: abs, Primary: primary, Catastrophic: c.Bool("catastrophic"), DryRun: c.Bool("dry-run"),
		Force: c.Bool("force"), Engine: eng, Step: step,
	})
	steps.Done()
	if c.Bool("json") {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(r); jerr != nil {
			return jerr
		}
		return err
	}
	if err != nil {
		return err
	}
	printPromote(out, r)
	return nil
}

func printPromote(w io.Writer, r recovery.Report) {
	if r.DryRun {
		fmt.Fprintf(w, "dry run: promoting %s would succeed; it took %s (the mirror was not changed)\n", r.Mirror, r.Duration.Round(time.Millisecond))
	} else {
		fmt.Fprintf(w, "promoted %s in %s: generation %d; open the environment there, or mount it as the new primary\n", r.Mirror, r.Duration.Round(time.Millisecond), r.Generation)
	}
	switch {
	case len(r.Recovery.Databases) > 0 && r.Recovery.Databases[0].PageSize > 0: // environments of named databases (LMDB)
		printEnvironments(w, r)
	case len(r.Recovery.Databases) > 0: // an engine that recovers database by database (SQLite)
		printDatabases(w, r)
	default:
		printLogRecovery(w, r)
	}
	printSalvage(w, r)
}

// printDatabases is the recovery of each database: its pages, the WAL frames replayed into it.
func printDatabases(w io.Writer, r recovery.Report) {
	fmt.Fprintf(w, "recovery:  %d databases in %s, each opened, checked (integrity_check) and checkpointed\n",
		len(r.Recovery.Databases), r.Recovery.Duration.Round(time.Millisecond))
	for _, d := range r.Recovery.Databases {
		hot := ""
		if d.HotJournal {
			hot = ", hot journal rolled back"
		}
		if d.InertJournalRemoved {
			hot = ", a journal SQLite did not take for hot removed"
		}
		fmt.Fprintf(w, "           %s: %d pages, %d WAL frames replayed%s, %s\n", d.File, d.Pages, d.FramesReplayed, hot, d.Duration.Round(time.Millisecond))
	}
}

// printEnvironments is the restart of each LMDB environment: what its newest meta page says, and
// what the read through found.
func printEnvironments(w io.Writer, r recovery.Report) {
	fmt.Fprintf(w, "recovery:  %d environments in %s, each opened (the newest meta page wins) and read through (every entry of every database)\n",
		len(r.Recovery.Databases), r.Recovery.Duration.Round(time.Millisecond))
	for _, d := range r.Recovery.Databases {
		fmt.Fprintf(w, "           %s: %d entries (the main database and %d named ones), %d pages (%s), last transaction %d, %s\n",
			d.File, d.Entries, d.SubDatabases, d.Pages, humanize.IBytes(uint64(d.Pages*d.PageSize)), d.TxnID, d.Duration.Round(time.Millisecond))
	}
}

// printLogRecovery is the recovery of an engine with a log history (Berkeley DB).
func printLogRecovery(w io.Writer, r recovery.Report) {
	kind := "normal"
	if r.Recovery.Catastrophic {
		kind = "catastrophic"
	}
	files := make([]string, 0, len(r.Replayed))
	for _, l := range r.Replayed {
		files = append(files, l.File)
	}
	fmt.Fprintf(w, "recovery:  %s, %s, read %d of %d log files (%s): %s\n", kind, r.Recovery.Duration.Round(time.Millisecond),
		len(r.Replayed), r.LogFiles, humanize.IBytes(uint64(r.ReplayedBytes)), strings.Join(files, " "))
	if r.Recovery.LastLSN != "" {
		fmt.Fprintf(w, "last LSN:  %s\n", r.Recovery.LastLSN)
	}
}

// printSalvage is what was salvaged from the old primary, and the warnings.
func printSalvage(w io.Writer, r recovery.Report) {
	if len(r.Salvaged) > 0 {
		for _, s := range r.Salvaged {
			what := "tail of"
			if s.Whole {
				what = "whole"
			}
			fmt.Fprintf(w, "salvaged:  %s %s from the old primary (%s)\n", what, s.File, humanize.IBytes(uint64(s.Bytes)))
		}
	} else if r.Primary != "" {
		fmt.Fprintf(w, "salvaged:  nothing from %s\n", r.Primary)
	}
	if r.SalvageNote != "" {
		fmt.Fprintf(w, "           %s\n", r.SalvageNote)
	}
	if r.StaleMount != "" {
		fmt.Fprintf(w, "removed the stale mount at %s\n", r.StaleMount)
	}
	if len(r.MayBeMissing) == 0 {
		fmt.Fprintln(w, "missing:   nothing: the mirror was in sync")
	}
	for _, m := range r.MayBeMissing {
		fmt.Fprintf(w, "WARNING:   %s\n", m)
	}
}
