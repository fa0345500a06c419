package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
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
			res, err := control.RequestResync(mp, "")
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

func attachMirrorCommand() *cli.Command {
	return &cli.Command{
		Name:      "attach-mirror",
		Usage:     "give a mount whose primary was lost a new mirror, and fill it while the mount keeps serving",
		ArgsUsage: "MOUNTPOINT DIR",
		Description: "After the primary disk died under a mount with --on-primary-error=failover, the mount serves from\n" +
			"the mirror alone. attach-mirror makes DIR (empty, on another disk) the new mirror and copies\n" +
			"everything to it while the application runs; then status says in sync again. (A new disk\n" +
			"mounted where the lost primary was works too: mirrorctl resync MOUNTPOINT.)\n\n" +
			examples("mirrorctl attach-mirror /srv/env /disk3/env", "make /disk3/env the mirror of /srv/env"),
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"}, noProgressFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 || c.Args().Get(1) == "" {
				return usageError("attach-mirror needs the MOUNTPOINT and the new mirror DIR, e.g. mirrorctl attach-mirror /srv/env /disk3/env")
			}
			mp, err := resolveMountPoint(c.Args().First())
			if err != nil {
				return err
			}
			if err := mountPointMissing(mp, "a mount must serve it"); err != nil {
				return err
			}
			dir, err := filepath.Abs(c.Args().Get(1))
			if err != nil {
				return usageError("new mirror %q: %v", c.Args().Get(1), err)
			}
			stopShowing := showRemoteResync(c, mp)
			res, err := control.RequestResync(mp, dir)
			stopShowing()
			if c.Bool("json") && res != nil {
				_ = json.NewEncoder(c.App.Writer).Encode(res)
			}
			if err != nil {
				return fmt.Errorf("attach mirror %s to %s: %w", dir, mp, err)
			}
			if !c.Bool("json") {
				bytes, _ := res["bytes_copied"].(float64)
				fmt.Fprintf(c.App.Writer, "%s is the mirror of %s now, in sync: %s copied\n", dir, mp, humanize.IBytes(uint64(bytes)))
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
