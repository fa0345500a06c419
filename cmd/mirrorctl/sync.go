package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/mirrorctl/mirrorctl/mirror"
	"github.com/urfave/cli/v2"
)

func syncCommand() *cli.Command {
	return &cli.Command{
		Name:  "sync",
		Usage: "bring a mirror up to date with its primary (no mount running): only what differs is copied",
		Flags: []cli.Flag{
			primaryFlag, mirrorFlag, excludeFlag, retainFlag, bdbUtilsFlag, rebuildFlag, fullFlag,
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
		},
		Action: runSync,
	}
}

func runSync(c *cli.Context) error {
	if c.NArg() != 0 {
		return usageError("sync takes no arguments: mirrorctl sync --primary DIR --mirror DIR")
	}
	primary, err := requireDir(c, "primary")
	if err != nil {
		return err
	}
	target, err := requireDir(c, "mirror")
	if err != nil {
		return err
	}
	eng, err := engineFor(c)
	if err != nil {
		return err
	}
	policy, err := policyFor(c, eng)
	if err != nil {
		return err
	}
	pair, err := mirror.CheckPair(primary, target)
	if err != nil {
		return err
	}
	mo, err := mirrorOptions(c, eng, pair.Mirror)
	if err != nil {
		return err
	}
	out := c.App.Writer
	progress := progressPrinter(out)
	if c.Bool("json") {
		progress = nil
	}
	s, err := mirror.Start(c.Context, pair, mirror.StartOptions{
		Claim:    mirror.ClaimOptions{Rebuild: c.Bool("rebuild-mirror")},
		Holder:   mirror.Holder{PID: os.Getpid(), Command: "sync"},
		Full:     c.Bool("full"),
		Policy:   policy,
		Progress: progress,
		Mirror:   mo,
	})
	if err != nil {
		return err
	}
	if err := s.Stop(); err != nil {
		return err
	}
	r := s.Report
	if c.Bool("json") {
		return json.NewEncoder(out).Encode(r)
	}
	fmt.Fprintf(out, "mirror %s is in sync with %s: %d entries examined, %d copied (%s written), %d removed, in %s\n",
		pair.Mirror, pair.Primary, r.Examined, r.Copied, humanize.IBytes(uint64(r.BytesCopied)), r.Removed, r.Duration.Round(time.Millisecond))
	return nil
}
