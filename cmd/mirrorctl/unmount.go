package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

func unmountCommand() *cli.Command {
	return &cli.Command{
		Name:      "unmount",
		Aliases:   []string{"umount"},
		Usage:     "stop serving MOUNTPOINT cleanly (the mount process syncs both sides and exits)",
		ArgsUsage: "MOUNTPOINT",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "wait", Value: time.Minute, Usage: "how long to wait for the mount process to finish"},
		},
		Action: runUnmount,
	}
}

func runUnmount(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("unmount needs exactly one MOUNTPOINT argument")
	}
	mp, err := filepath.Abs(c.Args().First())
	if err != nil {
		return err
	}
	if ok, fstype := mountedAt(mp); !ok {
		return fmt.Errorf("%s is not a mount point: nothing to unmount", mp)
	} else if fstype != "fuse.mirrorctl" {
		return fmt.Errorf("%s is a %s mount, not a mirrorctl mount: unmount it with umount", mp, fstype)
	}
	mi, hasInfo := readMountInfo(mp)
	if err := syscall.Unmount(mp, 0); err != nil {
		if errors.Is(err, syscall.EBUSY) {
			return fmt.Errorf("%s is busy: applications still use it; stop them first (fuser -vm %s)", mp, mp)
		}
		return fmt.Errorf("unmount %s: %w", mp, err)
	}
	if !hasInfo || !processAlive(mi.PID) {
		fmt.Fprintf(c.App.Writer, "unmounted %s (no mount process was running: the next mount or sync repairs the mirror)\n", mp)
		return nil
	}
	deadline := time.Now().Add(c.Duration("wait"))
	for processAlive(mi.PID) {
		if time.Now().After(deadline) {
			return fmt.Errorf("unmounted %s, but mount process %d is still finishing after %s", mp, mi.PID, c.Duration("wait"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintf(c.App.Writer, "unmounted %s; mirror %s stopped cleanly\n", mp, mi.Mirror)
	return nil
}

// processAlive reports whether pid names a running, non-zombie process.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' && i+2 < len(b) {
			return b[i+2] != 'Z'
		}
	}
	return true
}
