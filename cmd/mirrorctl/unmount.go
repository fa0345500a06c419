package main

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/mirrorctl/mirrorctl/control"
	"github.com/mirrorctl/mirrorctl/host"

	"github.com/urfave/cli/v2"
)

func unmountCommand() *cli.Command {
	return &cli.Command{
		Name:      "unmount",
		Aliases:   []string{"umount"},
		Usage:     "stop serving MOUNTPOINT cleanly (the mount process syncs both sides and exits)",
		ArgsUsage: "MOUNTPOINT",
		Description: "Stop the applications first: the kernel refuses to unmount while files are open.\n\n" +
			examples("mirrorctl unmount /srv/env", "stop serving /srv/env and wait for the clean stop",
				"mirrorctl unmount --json /srv/env", "the same, with a JSON report"),
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "wait", Value: time.Minute, Usage: "how long to wait for the mount process to finish"},
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
		},
		Action: runUnmount,
	}
}

func runUnmount(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("unmount needs exactly one MOUNTPOINT argument")
	}
	mp, err := resolveMountPoint(c.Args().First())
	if err != nil {
		return err
	}
	if err := mountPointMissing(mp, ""); err != nil {
		return err
	}
	if ok, fstype := host.MountedAt(mp); !ok {
		return fmt.Errorf("%s is not a mount point: nothing to unmount", mp)
	} else if fstype != host.MirrorctlFSType {
		return fmt.Errorf("%s is a %s mount, not a mirrorctl mount: unmount it with umount", mp, fstype)
	}
	mi, hasInfo := control.ReadInfo(mp)
	if err := syscall.Unmount(mp, 0); err != nil {
		if errors.Is(err, syscall.EBUSY) {
			return fmt.Errorf("%s is busy: applications still use it; stop them first (fuser -vm %s)", mp, mp)
		}
		return fmt.Errorf("unmount %s: %w", mp, err)
	}
	if !hasInfo || !host.ProcessAlive(mi.PID) {
		if c.Bool("json") {
			return writeJSON(c.App.Writer, unmountReport{MountPoint: mp, Mirror: mi.Mirror, Clean: false})
		}
		fmt.Fprintf(c.App.Writer, "unmounted %s (no mount process was running: the next mount or sync repairs the mirror)\n", mp)
		return nil
	}
	deadline := time.Now().Add(c.Duration("wait"))
	for host.ProcessAlive(mi.PID) {
		if time.Now().After(deadline) {
			return fmt.Errorf("unmounted %s, but mount process %d is still finishing after %s", mp, mi.PID, c.Duration("wait"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c.Bool("json") {
		return writeJSON(c.App.Writer, unmountReport{MountPoint: mp, Mirror: mi.Mirror, PID: mi.PID, Clean: true})
	}
	fmt.Fprintf(c.App.Writer, "unmounted %s; mirror %s stopped cleanly\n", mp, mi.Mirror)
	return nil
}

// unmountReport is what unmount --json prints.
type unmountReport struct {
	MountPoint string `json:"mount_point"`
	Mirror     string `json:"mirror,omitempty"`
	PID        int    `json:"pid,omitempty"`
	// Clean says the mount process finished its clean stop; false: none was running, and the next
	// mount or sync compares and repairs the mirror.
	Clean bool `json:"clean_stop"`
}
