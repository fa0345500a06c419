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
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/mirrorctl/mirrorctl/control"
	"github.com/mirrorctl/mirrorctl/fusefs"
	"github.com/mirrorctl/mirrorctl/lock"
	"github.com/mirrorctl/mirrorctl/meta"
	"github.com/mirrorctl/mirrorctl/mirror"
	"github.com/mirrorctl/mirrorctl/progress"
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
		Description: "mount brings the mirror up to date, then serves the primary at MOUNTPOINT through FUSE and\n" +
			"applies every change to both disks in order; fsync on the mount is durable on both. It runs in\n" +
			"the foreground until unmounted (mirrorctl unmount, SIGTERM or SIGINT), and tells systemd when it\n" +
			"is serving (Type=notify). Point applications at MOUNTPOINT, never at the primary directly.\n\n" +
			examples(
				"mirrorctl mount --primary /disk1/env --mirror /disk2/env /srv/env", "serve /srv/env with the mirror on /disk2",
				"mirrorctl mount --primary /disk1/env --mirror /disk2/env --on-mirror-error fail /srv/env", "return mirror errors to the application instead of degrading",
				"mirrorctl mount --primary /disk1/env --mirror /disk2/env --retain-logs 7d --log-format json /srv/env", "keep removed logs a week on the mirror; JSON logs",
			),
		Flags: []cli.Flag{
			primaryFlag, mirrorFlag, engineFlag, excludeFlag, rebuildFlag, fullFlag, retainFlag, bdbUtilsFlag, noProgressFlag,
			metricsAddrFlag, metricsRemoteFlag, watchForeignFlag,
			&cli.StringFlag{Name: "on-mirror-error", Value: "degrade", Usage: "what a failing mirror does: `degrade` (keep serving, record what changed) or fail (return the error to the application)"},
			&cli.StringFlag{Name: "on-primary-error", Value: "fail", Usage: "what a dead primary disk does: `fail` (return the error to the application) or failover (serve from the mirror alone, without telling the application; turns kernel passthrough off for mirrored files)"},
			&cli.StringFlag{Name: "rebuilt-files-dir", Usage: "keep the files the engine rebuilds (Berkeley DB's regions, SQLite's -shm, LMDB's lock.mdb) in `DIR` (e.g. in RAM: /dev/shm/env) instead of on the primary, served at their names through the mount: an application that maps them then survives the primary's death (with --on-primary-error=failover)", TakesFile: true},
			&cli.BoolFlag{Name: "allow-other", Value: os.Geteuid() == 0, Usage: "let other users in, with the kernel checking permissions (needs root or user_allow_other)"},
			&cli.BoolFlag{Name: "no-passthrough", Usage: "never use kernel passthrough, even for unmirrored files"},
			&cli.BoolFlag{Name: "passthrough-reads", Usage: "serve read-only opens of mirrored files by kernel passthrough (reads at disk speed); a writer that opens a file while such a reader has it open gets direct I/O and cannot mmap it shared"},
			&cli.BoolFlag{Name: "log-passthrough", Value: true, Usage: "let the kernel write the engine's log files directly (one round trip less per commit), their new bytes copied to the mirror at each fsync and close; false: every log write goes through the daemon"},
			&cli.BoolFlag{Name: "debug", Usage: "log every FUSE request"},
			&cli.StringFlag{Name: "cpuprofile", Hidden: true, Usage: "write a CPU profile of the mount process to `FILE` (for go tool pprof)"},
			&cli.DurationFlag{Name: "resync-interval", Value: time.Minute, Usage: "while degraded, try a resync this often (0: only on mirrorctl resync)"},
			&cli.StringFlag{Name: "archive", Usage: "also push the mirror to this archive (s3://bucket/prefix) in the background; see mirrorctl archive"},
			&cli.DurationFlag{Name: "archive-interval", Value: time.Second, Usage: "with --archive, push this often (the archive is at most about this far behind)"},
			s3EndpointFlag, snapshotEveryFlag, snapshotIntervalFlag, keepSnapshotsFlag, keepAgeFlag,
			loggingFlags()[0], loggingFlags()[1],
		},
		Action: runMount,
	}
}

// runMount is the life of a mount process: check everything, bring the mirror up to date, serve,
// and stop cleanly when unmounted. Each step is a method of mountRun, which holds what they share.
func runMount(c *cli.Context) error {
	if c.NArg() != 1 {
		return usageError("mount needs exactly one MOUNTPOINT argument (flags go before it), e.g. mirrorctl mount --primary /disk1/env --mirror /disk2/env /srv/env")
	}
	// An empty argument would be taken for the current directory.
	if c.Args().First() == "" {
		return usageError("the MOUNTPOINT argument is empty: give the empty directory to serve the environment at, e.g. /srv/env")
	}
	if _, err := newLogger(c, io.Discard); err != nil { // a bad --log-format is refused first
		return err
	}
	if err := checkResyncInterval(c); err != nil {
		return err
	}
	onErr, err := mirror.ParseErrorPolicy(c.String("on-mirror-error"))
	if err != nil {
		return usageError("%v", err)
	}
	onPrimary, err := mirror.ParsePrimaryPolicy(c.String("on-primary-error"))
	if err != nil {
		return usageError("%v", err)
	}
	metrics, err := startMetrics(c)
	if err != nil {
		return err
	}
	defer metrics.Close()
	m, err := prepareMount(c, onErr, metrics)
	if m != nil {
		m.onPrimary = onPrimary
	}
	if err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(c.String("cpuprofile"))
	if err != nil {
		return err
	}
	defer stopProfile()
	// Watched from before the start's comparison, so that no write behind the mount's back is missed.
	m.foreign = watchForeign(c, m.ps.pair.Primary, m.logger)
	defer m.foreign.Close()
	// Modes arrive from the kernel with the caller's umask applied; ours must not mask them again.
	syscall.Umask(0)

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := m.bringUpToDate(ctx); err != nil {
		return err
	}
	server, stopControl, err := m.serve()
	if err != nil {
		return joinStop(m.s, err)
	}
	defer stopControl()
	m.ready(ctx, server)
	server.Wait()
	return m.stop()
}

// mountRun is what the steps of one mount process share.
type mountRun struct {
	c         *cli.Context
	out       io.Writer
	onErr     mirror.ErrorPolicy
	onPrimary mirror.PrimaryPolicy
	ps        pairSetup
	mp        string
	metrics   *metricsServer
	notify    *notifier
	shown     *progress.Reporter
	logger    *slog.Logger
	s         *mirror.Session // set by bringUpToDate
	foreign   *foreignWatch   // writes to the primary behind the mount's back
	archive   *archivePush    // --archive: the background pusher; nil without
}

// prepareMount checks the pair, the mount point and FUSE, and sets up systemd's notifier, the
// progress display and the logger: nothing is changed yet.
func prepareMount(c *cli.Context, onErr mirror.ErrorPolicy, metrics *metricsServer) (*mountRun, error) {
	ps, err := newPairSetup(c)
	if err != nil {
		return nil, err
	}
	if dir := c.String("rebuilt-files-dir"); dir != "" {
		if err := mirror.CheckRebuiltDir(dir, ps.pair.Primary, ps.pair.Mirror); err != nil {
			return nil, usageError("%v", err)
		}
	} else if c.IsSet("rebuilt-files-dir") {
		return nil, usageError("--rebuilt-files-dir is empty: give a directory outside the primary and the mirror, e.g. /dev/shm/env")
	}
	mp, err := checkMountPoint(c.Args().First(), ps.pair.Primary, ps.pair.Mirror)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err} // a mount point that cannot be used: bad input
	}
	if err := checkFuse(); err != nil {
		return nil, err
	}
	m := &mountRun{c: c, out: c.App.Writer, onErr: onErr, ps: ps, mp: mp, metrics: metrics, notify: newNotifier(), shown: progressReporter(c)}
	if m.logger, err = newLogger(c, m.shown.Writer()); err != nil { // above a progress bar, if one is drawn
		return nil, err
	}
	// Wrong credentials or a missing bucket stop the mount here, not as a silent lag later.
	if m.archive, err = newArchivePush(c, ps, m.logger); err != nil {
		return nil, err
	}
	return m, nil
}

// startCPUProfile starts the hidden --cpuprofile; the returned function stops it.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, err
	}
	return pprof.StopCPUProfile, nil
}

// bringUpToDate claims the mirror and brings it up to date with the primary (the session's start),
// showing the progress, and reports what it did.
func (m *mountRun) bringUpToDate(ctx context.Context) error {
	c, pair := m.c, m.ps.pair
	var task *progress.Task // started once Start has claimed the pair; nil-safe
	s, err := mirror.Start(ctx, pair, mirror.StartOptions{
		Claimed: func() {
			fmt.Fprintf(m.out, "bringing mirror %s up to date with %s\n", pair.Mirror, pair.Primary)
			_ = m.notify.status("bringing mirror %s up to date with %s", pair.Mirror, pair.Primary)
			task = m.shown.Start("bringing the mirror up to date", 0, progress.Bytes)
		},
		Claim:    mirror.ClaimOptions{Rebuild: c.Bool("rebuild-mirror")},
		Holder:   lock.Holder{PID: os.Getpid(), Command: "mount", MountPoint: m.mp},
		Serve:    true,
		Engine:   m.ps.record,
		Full:     c.Bool("full"),
		Policy:   m.ps.policy,
		Progress: m.metrics.progress(func(done, total int64) { task.Update(done, total) }),
		Mirror:   m.mirrorOptions(),
	})
	task.Done()
	if err != nil {
		return err
	}
	m.s = s
	m.foreign.attach(s.Mirror)
	s.Mirror.SetCaptureHook(m.foreign)
	m.metrics.serve(s)
	reportStart(m.out, s)
	if pair.SameFileSystem {
		m.logger.Warn("primary and mirror are on the same file system: this mirror will not survive the loss of that disk", "primary", pair.Primary, "mirror", pair.Mirror)
	}
	return nil
}

// serve mounts the session at the mount point and opens the control socket; on an error nothing
// of either is left.
func (m *mountRun) serve() (*fuse.Server, func(), error) {
	c, pair := m.c, m.ps.pair
	server, err := fusefs.Mount(m.mp, m.s.Mirror, fusefs.Options{
		AllowOther: c.Bool("allow-other"), Debug: c.Bool("debug"), DisablePassthrough: c.Bool("no-passthrough"),
		PassthroughReads: c.Bool("passthrough-reads"), LogPassthrough: c.Bool("log-passthrough"),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: is /dev/fuse usable and fusermount3 installed?", err)
	}
	stopControl, err := control.Serve(control.Info{PID: os.Getpid(), MountPoint: m.mp, Primary: pair.Primary, Mirror: pair.Mirror},
		control.Handlers{
			Status: func() any {
				return liveStatus(m.s, m.mp, c.Duration("resync-interval"), m.foreign.state, m.archive.status())
			},
			Resync: func(ctx context.Context, newMirror string) (any, error) {
				if newMirror != "" {
					if err := m.s.AttachMirror(newMirror); err != nil {
						return nil, err
					}
					m.logger.Info("a new mirror is attached; resync copies everything to it", "mirror", newMirror)
				}
				return m.s.Resync(ctx)
			},
		})
	if err != nil {
		server.Unmount()
		return nil, nil, err
	}
	return server, stopControl, nil
}

// ready says the mount serves (stdout, log, systemd) and starts what runs while it does: systemd's
// status line, unmount on a signal, the resync display and the automatic resyncs.
func (m *mountRun) ready(ctx context.Context, server *fuse.Server) {
	pair, s, mp := m.ps.pair, m.s, m.mp
	fmt.Fprintf(m.out, "serving %s at %s, mirrored to %s\n", pair.Primary, mp, pair.Mirror)
	m.logger.Info("serving", "state", stateName(s), "mountpoint", mp, "primary", pair.Primary, "mirror", pair.Mirror)
	// Ready only now: the mirror was brought up to date and the mount answers.
	if err := m.notify.send("READY=1", "STATUS="+serviceStatus(s, mp)); err != nil {
		m.logger.Warn("cannot tell systemd the mount is ready", "err", err)
	}
	go reportState(ctx, s, mp, m.notify)

	go unmountOnSignal(ctx, server, mp, m.logger, m.notify)
	go showResyncs(ctx, m.shown, func() (mirror.ResyncAttempt, bool) { return s.LastResync(), true })
	if iv := m.c.Duration("resync-interval"); iv > 0 {
		go retryResync(ctx, s, iv, m.foreign.noted, m.logger)
	}
	m.archive.start(ctx)
	m.metrics.archiving(m.archive)
	m.metrics.engine(ctx, string(m.ps.kind), m.ps.eng, func() string { return m.s.Mirror.MirrorDir() })
}

// stop ends the session once unmounted: both disks synced, the mirror's record written.
func (m *mountRun) stop() error {
	s, mp, pair := m.s, m.mp, m.ps.pair
	_ = m.notify.send("STOPPING=1", "STATUS=unmounted; syncing both disks and stopping")
	m.metrics.stopping()
	m.foreign.Close() // before the session stops: nothing is marked in a mirror being closed
	m.archive.stop()  // the pusher reads the mirror: it ends before the session closes it
	if err := s.Stop(); err != nil {
		m.logger.Error("stopped with an error", "err", err)
		return fmt.Errorf("stopping: %w", err)
	}
	m.archive.final(m.out)
	state := "in sync"
	if d := s.Degraded(); d != nil {
		state = "DEGRADED since " + d.Since.Format(time.RFC3339) + ": run mirrorctl sync to repair it"
	}
	m.logger.Info("stopped cleanly", "state", stateName(s), "mountpoint", mp, "mirror", pair.Mirror)
	fmt.Fprintf(m.out, "unmounted %s cleanly; mirror %s is %s\n", mp, pair.Mirror, state)
	return nil
}

// stateName is the session's state in one word, as logs and systemd show it.
func stateName(s *mirror.Session) string {
	if s.Degraded() != nil {
		return "degraded"
	}
	return "in_sync"
}

// serviceStatus is the one line `systemctl status` shows.
func serviceStatus(s *mirror.Session, mp string) string {
	if d := s.Degraded(); d != nil {
		return fmt.Sprintf("DEGRADED since %s: serving %s from the primary alone; %d paths out of date on the mirror",
			d.Since.Format(time.RFC3339), mp, len(d.Dirty))
	}
	return fmt.Sprintf("serving %s, mirror %s in sync", mp, s.Pair.Mirror)
}

// reportState keeps systemd's STATUS= line current when the state changes, until ctx ends.
func reportState(ctx context.Context, s *mirror.Session, mp string, notify *notifier) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := stateName(s)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st := stateName(s)
			if st == "degraded" {
				// Let go of the failed disk so that it can be unmounted and repaired while we serve;
				// again after a failed resync attempt, which may have opened it.
				s.ReleaseTarget()
			}
			if st != last {
				last = st
				_ = notify.status("%s", serviceStatus(s, mp))
			}
		}
	}
}

type unmounter interface{ Unmount() error }

// unmountOnSignal unmounts when SIGINT or SIGTERM arrives; while applications still hold files open
// the kernel refuses, and it tries again on the next signal or every few seconds.
func unmountOnSignal(ctx context.Context, server unmounter, mp string, logger *slog.Logger, notify *notifier) {
	<-ctx.Done()
	logger.Info("stopping: unmounting", "mountpoint", mp)
	_ = notify.send("STOPPING=1", "STATUS=stopping: unmounting "+mp)
	var warned time.Time
	for {
		err := server.Unmount()
		if err == nil {
			return
		}
		// One line when it starts, then one every half minute: never a line every attempt.
		if time.Since(warned) >= 30*time.Second {
			warned = time.Now()
			logger.Warn("cannot unmount yet: applications still use the mount; stop them (fuser -vm "+mp+")", "err", err)
			_ = notify.status("stopping: waiting for applications to close their files on %s", mp)
		}
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
	if s.HadRecord && s.Previous.Clean && s.Previous.State == meta.StateInSync && r.Copied+r.Removed > 0 {
		fmt.Fprintf(out, "warning: %d entries changed on the primary outside mirrorctl since the last stop; the mirror was repaired. Point applications at the mount point, never at the primary directly.\n", r.Copied+r.Removed)
	}
	if s.HadRecord && !s.Previous.Clean {
		fmt.Fprintf(out, "the previous %s stopped uncleanly; the mirror was compared and repaired\n", s.Previous.State)
	}
}

// mirrorOptions are the mirror's options of this mount.
func (m *mountRun) mirrorOptions() mirror.Options {
	o := withPolicy(m.ps.opts, m.onErr, m.onPrimary, m.logger)
	o.RebuiltDir = m.c.String("rebuilt-files-dir")
	return o
}

func withPolicy(o mirror.Options, onErr mirror.ErrorPolicy, onPrimary mirror.PrimaryPolicy, logger *slog.Logger) mirror.Options {
	o.OnError, o.OnPrimaryError, o.Logger = onErr, onPrimary, logger
	return o
}

// retryResync tries a resync every interval while the mirror is degraded, until ctx ends.
func retryResync(ctx context.Context, m *mirror.Session, every time.Duration, soon <-chan struct{}, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-soon:
			// A write behind the mount's back was marked: resync once the burst it may belong to is
			// over (a second), not at the next interval.
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		case <-t.C:
		}
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
