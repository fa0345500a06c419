package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/mirrorctl/mirrorctl/fusefs"
	"github.com/mirrorctl/mirrorctl/mirror"
	"github.com/urfave/cli/v2"
)

var (
	primaryFlag = &cli.StringFlag{Name: "primary", Usage: "the environment directory on the first disk", TakesFile: true}
	mirrorFlag  = &cli.StringFlag{Name: "mirror", Usage: "the failover directory on the second disk", TakesFile: true}
	rebuildFlag = &cli.BoolFlag{Name: "rebuild-mirror", Usage: "overwrite a mirror that belongs to another primary or was promoted"}
	fullFlag    = &cli.BoolFlag{Name: "full", Usage: "compare the content of every file, not only sizes and times"}
)

func mountCommand() *cli.Command {
	return &cli.Command{
		Name:      "mount",
		Usage:     "serve the primary at MOUNTPOINT and mirror every change to the mirror directory",
		ArgsUsage: "MOUNTPOINT",
		Flags: []cli.Flag{
			primaryFlag, mirrorFlag, excludeFlag, rebuildFlag, fullFlag, retainFlag, bdbUtilsFlag, metricsAddrFlag, metricsRemoteFlag,
			&cli.StringFlag{Name: "on-mirror-error", Value: "degrade", Usage: "what a failing mirror does: `degrade` (keep serving, record what changed) or fail (return the error to the application)"},
			&cli.BoolFlag{Name: "allow-other", Value: os.Geteuid() == 0, Usage: "let other users in, with the kernel checking permissions (needs root or user_allow_other)"},
			&cli.BoolFlag{Name: "no-passthrough", Usage: "never use kernel passthrough, even for unmirrored files"},
			&cli.BoolFlag{Name: "debug", Usage: "log every FUSE request"},
			&cli.StringFlag{Name: "cpuprofile", Hidden: true, Usage: "write a CPU profile of the mount process to `FILE` (for go tool pprof)"},
			&cli.DurationFlag{Name: "resync-interval", Value: time.Minute, Usage: "while degraded, try a resync this often (0: only on mirrorctl resync)"},
		},
		Action: runMount,
	}
}

func runMount(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("mount needs exactly one MOUNTPOINT argument (flags go before it), e.g. mirrorctl mount --primary /disk1/env --mirror /disk2/env /srv/env")
	}
	onErr, err := mirror.ParseErrorPolicy(c.String("on-mirror-error"))
	if err != nil {
		return usageError("%v", err)
	}
	metrics, err := startMetrics(c)
	if err != nil {
		return err
	}
	defer metrics.Close()
	ps, err := newPairSetup(c)
	if err != nil {
		return err
	}
	policy, pair, mo := ps.policy, ps.pair, ps.opts
	mp, err := checkMountPoint(c.Args().First(), pair.Primary, pair.Mirror)
	if err != nil {
		return err
	}
	if err := checkFuse(); err != nil {
		return err
	}
	out := c.App.Writer
	logger := slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
	if p := c.String("cpuprofile"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// Modes arrive from the kernel with the caller's umask applied; ours must not mask them again.
	syscall.Umask(0)

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(out, "bringing mirror %s up to date with %s\n", pair.Mirror, pair.Primary)
	s, err := mirror.Start(ctx, pair, mirror.StartOptions{
		Claim:    mirror.ClaimOptions{Rebuild: c.Bool("rebuild-mirror")},
		Holder:   mirror.Holder{PID: os.Getpid(), Command: "mount", MountPoint: mp},
		Serve:    true,
		Full:     c.Bool("full"),
		Policy:   policy,
		Progress: metrics.progress(progressPrinter(out)),
		Mirror:   withPolicy(mo, onErr, logger),
	})
	if err != nil {
		return err
	}
	metrics.serve(s)
	reportStart(out, s)
	if pair.SameFileSystem {
		logger.Warn("primary and mirror are on the same file system: this mirror will not survive the loss of that disk", "primary", pair.Primary, "mirror", pair.Mirror)
	}

	server, err := fusefs.Mount(mp, s.Mirror, fusefs.Options{
		AllowOther: c.Bool("allow-other"), Debug: c.Bool("debug"), DisablePassthrough: c.Bool("no-passthrough"),
	})
	if err != nil {
		return joinStop(s, fmt.Errorf("%w: is /dev/fuse usable and fusermount3 installed?", err))
	}
	stopControl, err := serveControl(mountInfo{PID: os.Getpid(), MountPoint: mp, Primary: pair.Primary, Mirror: pair.Mirror},
		func() any { return liveStatus(s, mp, c.Duration("resync-interval")) },
		func(ctx context.Context) (any, error) { return s.Resync(ctx) })
	if err != nil {
		server.Unmount()
		return joinStop(s, err)
	}
	defer stopControl()
	fmt.Fprintf(out, "serving %s at %s, mirrored to %s\n", pair.Primary, mp, pair.Mirror)
	logger.Info("serving", "mountpoint", mp, "primary", pair.Primary, "mirror", pair.Mirror)

	go unmountOnSignal(ctx, server, mp, logger)
	if iv := c.Duration("resync-interval"); iv > 0 {
		go retryResync(ctx, s, iv, logger)
	}
	server.Wait()
	metrics.stopping()
	if err := s.Stop(); err != nil {
		return fmt.Errorf("stopping: %w", err)
	}
	state := "in sync"
	if d := s.Degraded(); d != nil {
		state = "DEGRADED since " + d.Since.Format(time.RFC3339) + ": run mirrorctl sync to repair it"
	}
	fmt.Fprintf(out, "unmounted %s cleanly; mirror %s is %s\n", mp, pair.Mirror, state)
	return nil
}

type unmounter interface{ Unmount() error }

// unmountOnSignal unmounts when SIGINT or SIGTERM arrives; while applications still hold files open
// the kernel refuses, and it tries again on the next signal or every few seconds.
func unmountOnSignal(ctx context.Context, server unmounter, mp string, logger *slog.Logger) {
	<-ctx.Done()
	for {
		err := server.Unmount()
		if err == nil {
			return
		}
		logger.Warn("cannot unmount yet: applications still use the mount; stop them (fuser -vm "+mp+")", "err", err)
		time.Sleep(2 * time.Second)
	}
}

func joinStop(s *mirror.Session, err error) error {
	if serr := s.Stop(); serr != nil {
		return fmt.Errorf("%w (and stopping: %v)", err, serr)
	}
	return err
}

func reportStart(out io.Writer, s *mirror.Session) {
	r := s.Report
	how := "by size and time"
	switch {
	case s.FullCompare:
		how = "by content"
	case len(s.Intents) > 0 || s.HadRecord && !s.Previous.Clean:
		how = fmt.Sprintf("by size and time, and by content for the %d files open for writing when it stopped", len(s.Intents))
	}
	fmt.Fprintf(out, "mirror compared %s: %d entries, %s examined, %d copied (%s), %d removed in %s\n",
		how, r.Examined, humanize.IBytes(uint64(r.BytesExamined)), r.Copied, humanize.IBytes(uint64(r.BytesCopied)), r.Removed, r.Duration.Round(time.Millisecond))
	if s.HadRecord && s.Previous.Clean && s.Previous.State == mirror.StateInSync && r.Copied+r.Removed > 0 {
		fmt.Fprintf(out, "warning: %d entries changed on the primary outside mirrorctl since the last stop; the mirror was repaired. Point applications at the mount point, never at the primary directly.\n", r.Copied+r.Removed)
	}
	if s.HadRecord && !s.Previous.Clean {
		fmt.Fprintf(out, "the previous %s stopped uncleanly; the mirror was compared and repaired\n", s.Previous.State)
	}
}

// progressPrinter shows progress of a large copy, at most once a second.
func progressPrinter(out io.Writer) func(done, total int64) {
	start := time.Now()
	return func(done, total int64) {
		el := time.Since(start)
		if el < time.Second || total < 64<<20 {
			return
		}
		rate := float64(done) / el.Seconds()
		fmt.Fprintf(out, "  %s of %s (%.0f%%), %s/s\n", humanize.IBytes(uint64(done)), humanize.IBytes(uint64(total)),
			100*float64(done)/float64(max(total, 1)), humanize.IBytes(uint64(rate)))
	}
}

func withPolicy(o mirror.Options, onErr mirror.ErrorPolicy, logger *slog.Logger) mirror.Options {
	o.OnError, o.Logger = onErr, logger
	return o
}

// retryResync tries a resync every interval while the mirror is degraded, until ctx ends.
func retryResync(ctx context.Context, m *mirror.Session, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if m.Degraded() == nil {
				continue
			}
			if a, err := m.Resync(ctx); err != nil {
				logger.Warn("automatic resync failed; will try again", "err", err, "next", every)
			} else {
				logger.Info("automatic resync: mirror in sync again", "paths", a.Paths, "bytes", a.Bytes)
			}
		}
	}
}
