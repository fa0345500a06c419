package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/mirrorctl/mirrorctl/archive"
	"github.com/mirrorctl/mirrorctl/engine/detect"
	"github.com/mirrorctl/mirrorctl/meta"
	"github.com/urfave/cli/v2"
)

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name:  "restore",
		Usage: "rebuild an environment from the archive or a local mirror's history, to its newest state or a moment",
		Description: "restore downloads a snapshot and the logs after it (or copies a mirror's files and retained\n" +
			"logs), verifies every checksum, runs catastrophic recovery (to --time when given), verifies the\n" +
			"databases and reports the last commit recovered. The target must be new or empty; a failed\n" +
			"restore leaves it as it was.\n\n" +
			examples(
				"mirrorctl restore --from s3://backups/env --to /disk3/env", "the newest state the archive holds",
				"mirrorctl restore --from /disk2/env --to /scratch/env --time 2026-12-01T10:00:00Z", "rewind a mistake from the mirror's history",
			),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "from", Required: true, Usage: "s3://bucket/prefix, or a local mirror directory", TakesFile: true},
			&cli.StringFlag{Name: "to", Required: true, Usage: "the new environment directory (new or empty)", TakesFile: true},
			&cli.StringFlag{Name: "time", Usage: "recover to this moment (RFC 3339, e.g. 2026-12-01T10:00:00Z); one-second resolution"},
			s3EndpointFlag, bdbUtilsFlag,
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
		},
		Action: runRestore,
	}
}

func runRestore(c *cli.Context) error {
	if c.NArg() != 0 {
		return usageError("restore takes no arguments: mirrorctl restore --from SOURCE --to DIR [--time RFC3339]")
	}
	var o archive.RestoreOptions
	if s := c.String("time"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return usageError("--time %q is not an RFC 3339 time: write it like 2026-12-01T10:00:00Z", s)
		}
		o.Until = t
	}
	if _, err := archive.CheckTarget(c.String("to")); err != nil {
		return restoreError(err) // before any connection: a refusal costs nothing
	}
	from := c.String("from")
	var rep archive.RestoreReport
	if archive.IsLocation(from) {
		loc, err := archive.ParseLocation(from)
		if err != nil {
			return usageError("--from: %v", err)
		}
		s, err := archive.Open(c.Context, loc, archive.Config{Endpoint: c.String("s3-endpoint")})
		if err != nil {
			return err
		}
		// The engine is the one the archive's manifest names (Berkeley DB when none).
		kind := meta.EngineBDB
		if m, ok, err := s.LatestManifest(c.Context); err != nil {
			return err
		} else if ok && m.Engine != "" {
			kind = m.Engine
		}
		if o.Engine, err = engineOf(c, detect.Kind(kind)); err != nil {
			return err
		}
		rep, err = archive.RestoreFromStore(c.Context, s, c.String("to"), o)
		if err != nil {
			return restoreError(err)
		}
	} else {
		eng, err := engineFor(c, from)
		if err != nil {
			return err
		}
		o.Engine = eng
		if rep, err = archive.RestoreFromMirror(c.Context, from, c.String("to"), o); err != nil {
			return restoreError(err)
		}
	}
	if c.Bool("json") {
		return writeJSON(c.App.Writer, rep)
	}
	w := c.App.Writer
	src := rep.From
	if rep.Snapshot != "" {
		src += " (snapshot " + rep.Snapshot + ")"
	}
	if rep.SnapshotOf != nil { // an engine without a log history: a snapshot, restarted and checked
		fmt.Fprintf(w, "restored %s into %s: %d files (%s), the mirror as it was at %s; %d databases opened and checked (integrity_check) in %s\n",
			src, rep.To, rep.Files, humanize.IBytes(uint64(rep.Bytes)), rep.SnapshotOf.Format(time.RFC3339Nano), len(rep.Recovery.Databases), rep.Recovery.Duration.Round(time.Millisecond))
		return nil
	}
	fmt.Fprintf(w, "restored %s into %s: %d files and logs %d-%d (%s), catastrophic recovery in %s, databases verified\n",
		src, rep.To, rep.Files, rep.FirstLog, rep.LastLog, humanize.IBytes(uint64(rep.Bytes)), rep.Recovery.Duration.Round(time.Millisecond))
	last := "none (the log holds no commit)"
	if rep.LastCommit != nil {
		last = rep.LastCommit.Format(time.RFC3339)
	}
	if rep.Until != nil {
		fmt.Fprintf(w, "recovered to %s: last commit %s\n", rep.Until.Format(time.RFC3339), last)
	} else {
		fmt.Fprintf(w, "last commit %s\n", last)
	}
	return nil
}

// restoreError makes a refused target a usage error (nothing was changed).
func restoreError(err error) error {
	if errors.Is(err, archive.ErrTarget) {
		return &exitError{code: exitUsage, err: err}
	}
	if strings.Contains(err.Error(), "\n") {
		return errors.New(strings.ReplaceAll(err.Error(), "\n", " / "))
	}
	return err
}
