package main

import (
	"encoding/json"
	"fmt"

	"time"

	"github.com/dustin/go-humanize"
	"github.com/mirrorctl/mirrorctl/control"
	"github.com/urfave/cli/v2"
)

func resyncCommand() *cli.Command {
	return &cli.Command{
		Name:      "resync",
		Usage:     "copy to a degraded mirror what it missed, while the mount keeps serving",
		ArgsUsage: "MOUNTPOINT",
		Description: "After a mirror disk failed (the mount went DEGRADED and kept serving), mount the repaired or a\n" +
			"new disk at the same place and resync: only the paths changed while degraded are copied.\n\n" +
			examples("mirrorctl resync /srv/env", "bring the mirror of /srv/env back in sync"),
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"}, noProgressFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError("resync needs exactly one MOUNTPOINT argument (for a stopped mirror use mirrorctl sync)")
			}
			mp, err := resolveMountPoint(c.Args().First())
			if err != nil {
				return err
			}
			if err := mountPointMissing(mp, "or, for a stopped mirror, mirrorctl sync"); err != nil {
				return err
			}
			stopShowing := showRemoteResync(c, mp)
			res, err := control.RequestResync(mp)
			stopShowing()
			if c.Bool("json") && res != nil {
				_ = json.NewEncoder(c.App.Writer).Encode(res)
			}
			if err != nil {
				return fmt.Errorf("resync of %s: %w", mp, err)
			}
			if !c.Bool("json") {
				bytes, _ := res["bytes_copied"].(float64)
				fmt.Fprintf(c.App.Writer, "mirror of %s is in sync again: %v paths resynced, %s copied\n", mp, res["paths"], humanize.IBytes(uint64(bytes)))
			}
			return nil
		},
	}
}

// checkResyncInterval refuses a negative mount --resync-interval, which would otherwise read as 0
// (automatic resyncs off) without a word.
func checkResyncInterval(c *cli.Context) error {
	if iv := c.Duration("resync-interval"); iv < 0 {
		return usageError("--resync-interval %s is negative: give a duration such as 1m, or 0 to resync only on mirrorctl resync", iv.Round(time.Millisecond))
	}
	return nil
}
