package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/mirrorctl/mirrorctl/archive"
	"github.com/mirrorctl/mirrorctl/control"
	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/host"
	"github.com/mirrorctl/mirrorctl/lock"
	"github.com/mirrorctl/mirrorctl/meta"
	"github.com/mirrorctl/mirrorctl/mirror"
	"github.com/urfave/cli/v2"
)

// statusReport is what `status` shows, and what the mount process answers on its control socket.
type statusReport struct {
	State      meta.State            `json:"state"`
	Live       bool                  `json:"live"` // figures come from a running mount process
	MountPoint string                `json:"mount_point,omitempty"`
	PID        int                   `json:"pid,omitempty"`
	Primary    string                `json:"primary"`
	Mirror     string                `json:"mirror"`
	Generation uint64                `json:"generation,omitempty"`
	LastSync   time.Time             `json:"last_sync,omitempty"`
	Clean      bool                  `json:"clean_stop"`
	Stats      *mirror.Stats         `json:"stats,omitempty"`
	Degraded   *meta.Degraded        `json:"degraded,omitempty"`
	Resync     *mirror.ResyncAttempt `json:"last_resync,omitempty"`
	Note       string                `json:"note,omitempty"`
	// ResyncEvery is how often a degraded mirror is resynced automatically (0: only on request).
	ResyncEvery time.Duration `json:"resync_every_ns,omitempty"`
	// SinceCheckpoint is the log a promote would replay now (bytes since the last checkpoint).
	SinceCheckpoint *int64 `json:"log_bytes_since_checkpoint,omitempty"`
	// Engine is the mirror's engine and what does not apply to it (engine_status.go).
	Engine *engineStatus `json:"engine,omitempty"`
	// Healthy is what exit status 0 says: a mount serves the mirror, or a stopped mirror is in sync.
	Healthy bool `json:"healthy"`
	// Problem says why not, and what to do, when not Healthy.
	Problem string `json:"problem,omitempty"`
	// ForeignWatch says how a live mount watches for writes made to the primary directly: "fanotify",
	// or why it does not.
	ForeignWatch string `json:"foreign_watch,omitempty"`
	// MountDead is set when the mount point is still mounted but its process is gone (ENOTCONN).
	MountDead bool `json:"mount_dead,omitempty"`
	// Archive is how far a live mount's --archive is behind the mirror.
	Archive *archive.PusherStatus `json:"archive,omitempty"`
}

// health is the exit status of status for r, and the problem that it stands for: 0 a mount serves
// the mirror, or a stopped mirror is in sync; 1 not healthy (a dead or silent mount, a mount gone
// without a clean stop, a sync running or interrupted, never synced, promoted); 3 degraded. (2, a
// missing path or a directory that is not a mirror, is refused before there is a report.)
func (r *statusReport) health() (int, string) {
	switch {
	case r.State == meta.StatePrimaryLost:
		return exitDegraded, "the PRIMARY WAS LOST: the mount serves from the mirror alone, the only copy now; attach a new mirror: mirrorctl attach-mirror " + r.MountPoint + " /disk3/env"
	case r.State == meta.StateDegraded:
		fix := "run mirrorctl sync (or mount) once its disk works"
		if r.Live {
			fix = "run mirrorctl resync " + r.MountPoint + " once its disk works (a new disk mounted at the same place is fine)"
		}
		return exitDegraded, "mirror is DEGRADED: it misses changes; " + fix
	case r.Problem != "":
		return exitFailure, r.Problem
	case r.State == meta.StateServing, r.State == meta.StateInSync:
		return exitOK, ""
	case r.State == meta.StateNew:
		return exitFailure, "mirror " + r.Mirror + " was never synced: run mirrorctl mount or mirrorctl sync"
	case r.State == meta.StatePromoted:
		return exitFailure, "mirror " + r.Mirror + " was promoted: it is a production environment now, no longer a mirror"
	}
	return exitFailure, fmt.Sprintf("mirror %s is %s, not in sync", r.Mirror, r.State)
}

// addTail fills in the log bytes that a promote would replay, when the engine can tell.
func (r *statusReport) addTail(ctx context.Context, eng engine.Core) {
	r.Engine = engineStatusOf(eng)
	p, ok := eng.(engine.Pending)
	if !ok || eng.Available() != nil || r.Mirror == "" {
		return
	}
	if n, err := p.BytesSinceCheckpoint(ctx, r.Mirror); err == nil {
		r.SinceCheckpoint = &n
	}
}

func liveStatus(s *mirror.Session, mp string, resyncEvery time.Duration, foreignWatch string, arch *archive.PusherStatus) any {
	st := s.Stats()
	r := statusReport{State: meta.StateServing, Live: true, MountPoint: mp, PID: os.Getpid(),
		Primary: s.Pair.Primary, Mirror: s.Pair.Mirror, Generation: s.Identity.Generation, Stats: &st, ForeignWatch: foreignWatch, Archive: arch}
	loss := st.PrimaryLost
	if loss != nil {
		// The mirror took over: it is the primary now, and the mirror is the one attached since.
		r.Primary, r.Mirror = loss.Serving, s.Mirror.MirrorDir()
		if r.Mirror == loss.Primary {
			r.Mirror = "" // none until one is attached
		}
		if id, ok, err := meta.ReadIdentity(loss.Serving); err == nil && ok {
			r.Generation = id.Generation
		}
	}
	if d := s.Degraded(); d != nil {
		r.State, r.Degraded = meta.StateDegraded, d
		if loss != nil {
			r.State = meta.StatePrimaryLost
			r.Note = "serving from the mirror alone since " + loss.At.Local().Format(time.RFC3339) + ": the primary " + loss.Primary +
				" failed (" + loss.Cause + "); attach a new mirror with mirrorctl attach-mirror " + mp + " DIR, or replace the lost disk and run mirrorctl resync " + mp
		} else if s.Mirror.Released() {
			r.Note = "the mount let go of the mirror's disk: unmount it, repair or replace it, mount it at the same place, then run mirrorctl resync " + mp
		}
	}
	if a := s.LastResync(); !a.At.IsZero() || a.Active {
		r.Resync = &a
	}
	r.ResyncEvery = resyncEvery
	if rec, ok, err := meta.ReadRecord(r.Mirror); r.Mirror != "" && err == nil && ok {
		r.LastSync = rec.LastSync
	}
	return r
}

// offlineStatus reads what the metadata of a mirror directory says. A path that does not exist, is not
// a directory or is not a mirror is a usage error (exit 2).
func offlineStatus(primary, target string) (statusReport, error) {
	if abs, err := filepath.Abs(target); err == nil {
		target = abs
	}
	if primary != "" {
		if abs, err := filepath.Abs(primary); err == nil {
			primary = abs
		}
	}
	r := statusReport{Primary: primary, Mirror: target}
	st, err := os.Stat(target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return r, usageError("mirror %s does not exist: give the mirror directory of a pair with --mirror, or the mount point", target)
	case err != nil:
		return r, fmt.Errorf("mirror %s: %w", target, err)
	case !st.IsDir():
		return r, usageError("mirror %s is not a directory: give the mirror directory of a pair with --mirror, or the mount point", target)
	}
	rec, ok, err := meta.ReadRecord(target)
	if err != nil {
		return r, err
	}
	if !ok {
		if _, isEnv, _ := meta.ReadIdentity(target); isEnv {
			return r, usageError("%s is a database environment (a primary), not a mirror: give its mirror with --mirror, or the mount point", target)
		}
		if !emptyTree(target) {
			return r, usageError("%s is not a mirrorctl mirror (no %s/%s): give the mirror directory of a pair with --mirror", target, meta.Dir, meta.RecordFile)
		}
		r.State = meta.StateNew
		return r, nil
	}
	r.State, r.Clean, r.LastSync, r.Generation = rec.State, rec.Clean, rec.LastSync, rec.Generation
	if r.Primary == "" {
		r.Primary = rec.PrimaryPath
	}
	h, _ := lock.ReadHolder(target)
	held := host.ProcessAlive(h.PID) && h.PID != os.Getpid()
	switch rec.State {
	case meta.StateServing:
		if !held {
			r.Problem = "the mount that served this mirror is gone without a clean stop: the next mount or sync compares by content and repairs it"
			if mp := rec.MountPoint; mp != "" {
				if mounted, _ := host.MountedAt(mp); mounted {
					r.MountPoint, r.MountDead = mp, true
					r.Problem = "the mount that served this mirror is gone without a clean stop and its mount point " + mp +
						" is dead (ENOTCONN): run mirrorctl unmount " + mp + ", then mount again (it repairs the mirror by content)"
				}
			}
		}
	case meta.StateSyncing:
		if held {
			r.Problem = fmt.Sprintf("a sync is copying into mirror %s (pid %d): it is not in sync until that finishes", target, h.PID)
		} else {
			r.Problem = fmt.Sprintf("the sync into mirror %s was interrupted: its content may be partial; run mirrorctl sync (or mount) again", target)
		}
	}
	if d, ok, err := meta.ReadDegraded(r.Primary); err == nil && ok {
		r.State, r.Degraded = meta.StateDegraded, &d
	}
	return r, nil
}

// emptyTree reports whether dir holds nothing but, perhaps, the metadata area.
func emptyTree(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.Name() != meta.Dir {
			return false
		}
	}
	return true
}

// deadMountStatus is the report for a mount point whose mount process does not answer: what the
// mirror's metadata says, and why the mount is not healthy.
func deadMountStatus(mp string, mi control.Info) (statusReport, error) {
	r, err := offlineStatus(mi.Primary, mi.Mirror)
	if err != nil {
		return r, err
	}
	r.MountPoint, r.MountDead = mp, false
	mounted, _ := host.MountedAt(mp)
	switch {
	case host.ProcessAlive(mi.PID):
		r.Problem = fmt.Sprintf("the mount process (pid %d) of %s does not answer: if it hangs, kill it, run mirrorctl unmount %s, then mount again", mi.PID, mp, mp)
	case mounted:
		r.MountDead = true
		r.Problem = fmt.Sprintf("the mount at %s is dead: its process (pid %d) is gone and the mount point answers ENOTCONN; run mirrorctl unmount %s, then mount again (it repairs the mirror by content)", mp, mi.PID, mp)
	default:
		r.Problem = fmt.Sprintf("no mount serves %s any more: its process (pid %d) is gone without a clean stop; mount it again (it repairs the mirror by content)", mp, mi.PID)
	}
	return r, nil
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show where a mount or a mirror stands",
		ArgsUsage: "[MOUNTPOINT]",
		Description: "status asks the running mount process, or reads a stopped mirror's metadata. Exit status 0:\n" +
			"a mount serves the mirror, or a stopped mirror is in sync; 1: not healthy (a dead mount, a mount gone\n" +
			"without a clean stop, a sync running or interrupted, never synced, promoted); 2: the path does not\n" +
			"exist or is not a mirror; 3: the mirror is DEGRADED.\n\n" +
			examples("mirrorctl status /srv/env", "a running mount",
				"mirrorctl status --mirror /disk2/env --primary /disk1/env", "a stopped mirror",
				"mirrorctl status --json /srv/env | jq .state", "for scripts"),
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print JSON for scripts"},
			&cli.StringFlag{Name: "mirror", Usage: "a mirror directory to report on when no mount serves it", TakesFile: true},
			&cli.StringFlag{Name: "primary", Usage: "its primary directory (for the degraded marker)", TakesFile: true},
			bdbUtilsFlag,
		},
		Action: runStatus,
	}
}

func runStatus(c *cli.Context) error {
	var r statusReport
	switch {
	case c.NArg() == 1:
		mp, err := resolveMountPoint(c.Args().First())
		if err != nil {
			return err
		}
		if err := control.QueryStatus(mp, &r); err != nil {
			var denied *control.DeniedError
			if errors.As(err, &denied) {
				return err
			}
			mi, ok := control.ReadInfo(mp)
			if !ok {
				if err := mountPointMissing(mp, "or --mirror DIR for a stopped mirror"); err != nil {
					return err
				}
				return fmt.Errorf("no mirrorctl mount serves %s: give the mount point of a running mount, or --mirror DIR for a stopped mirror", mp)
			}
			if r, err = deadMountStatus(mp, mi); err != nil {
				return err
			}
		}
	case c.NArg() == 0 && c.String("mirror") != "":
		var err error
		if r, err = offlineStatus(c.String("primary"), c.String("mirror")); err != nil {
			return err
		}
	default:
		return usageError("status needs a MOUNTPOINT argument or --mirror DIR")
	}
	if r.Mirror != "" {
		if eng, err := engineFor(c, r.Mirror); err == nil {
			r.addTail(c.Context, eng)
		}
	}
	code, problem := r.health()
	r.Healthy, r.Problem = code == exitOK, problem
	if c.Bool("json") {
		if err := writeJSON(c.App.Writer, r); err != nil {
			return err
		}
	} else {
		printStatus(c.App.Writer, r)
	}
	// The same exit status with or without --json: scripts test it.
	if code != exitOK {
		return &exitError{code: code, err: errors.New(problem)}
	}
	return nil
}

func printStatus(w io.Writer, r statusReport) {
	state := string(r.State)
	switch r.State {
	case meta.StateDegraded:
		state = "DEGRADED"
	case meta.StatePrimaryLost:
		state = "PRIMARY LOST: serving from the mirror alone"
	}
	if r.MountDead {
		state += " (the record says so; the MOUNT IS DEAD)"
	}
	fmt.Fprintf(w, "state:       %s\n", state)
	if r.MountPoint != "" {
		fmt.Fprintf(w, "mount point: %s", r.MountPoint)
		if r.PID != 0 {
			fmt.Fprintf(w, " (pid %d)", r.PID)
		}
		fmt.Fprintln(w)
	}
	mirrorDir := r.Mirror
	if mirrorDir == "" {
		mirrorDir = "none"
	}
	fmt.Fprintf(w, "primary:     %s\nmirror:      %s\n", r.Primary, mirrorDir)
	if s := r.Stats; s != nil && s.PrimaryLost != nil {
		l := s.PrimaryLost
		fmt.Fprintf(w, "lost:        %s since %s (%s): %s; the switch paused the application %s\n", l.Primary,
			l.At.Local().Format(time.RFC3339), humanize.Time(l.At), l.Cause, l.Pause.Round(time.Microsecond))
	}
	if r.Generation != 0 {
		fmt.Fprintf(w, "generation:  %d\n", r.Generation)
	}
	if !r.LastSync.IsZero() {
		fmt.Fprintf(w, "last sync:   %s (%s)\n", r.LastSync.Local().Format(time.RFC3339), humanize.Time(r.LastSync))
	}
	if d := r.Degraded; d != nil {
		fmt.Fprintf(w, "degraded:    since %s (%s): %s\n", d.Since.Local().Format(time.RFC3339), humanize.Time(d.Since), d.Reason)
		fmt.Fprintf(w, "out of date: %d paths\n", len(d.Dirty))
		if r.ResyncEvery > 0 {
			fmt.Fprintf(w, "retry:       resync tried every %s (or now: mirrorctl resync %s)\n", r.ResyncEvery, r.MountPoint)
		} else if r.Live {
			fmt.Fprintf(w, "retry:       no automatic resync: run mirrorctl resync %s\n", r.MountPoint)
		}
	}
	if a := r.Resync; a != nil {
		switch {
		case a.Active && a.Progress != nil:
			pr := a.Progress
			fmt.Fprintf(w, "resync:      running since %s: %d of %d paths, %s of %s compared\n", a.At.Local().Format(time.RFC3339),
				pr.PathsDone, pr.PathsDone+pr.PathsLeft, humanize.IBytes(uint64(pr.BytesExamined)), humanize.IBytes(uint64(pr.BytesTotal)))
		case a.Active:
			fmt.Fprintf(w, "resync:      running since %s\n", a.At.Local().Format(time.RFC3339))
		case a.Error != "":
			fmt.Fprintf(w, "resync:      last attempt %s failed: %s\n", humanize.Time(a.At), a.Error)
		default:
			fmt.Fprintf(w, "resync:      last one %s: %d paths, %s copied in %s\n", humanize.Time(a.At), a.Paths, humanize.IBytes(uint64(a.Bytes)), a.Took.Round(time.Millisecond))
		}
	}
	if s := r.Stats; s != nil {
		fmt.Fprintf(w, "uptime:      %s\n", s.Uptime.Round(time.Second))
		fmt.Fprintf(w, "mirrored:    %s in %s writes, %s operations\n", humanize.IBytes(uint64(s.BytesMirrored)), humanize.Comma(s.Writes), humanize.Comma(s.OpsMirrored))
		fmt.Fprintf(w, "pending:     %d operations\n", s.Pending)
		fmt.Fprintf(w, "fsync:       primary %s (mean %s, max %s), mirror %s (mean %s, max %s)\n",
			humanize.Comma(s.PrimaryFsync.Count), s.PrimaryFsync.Mean.Round(time.Microsecond), s.PrimaryFsync.Max.Round(time.Microsecond),
			humanize.Comma(s.MirrorFsync.Count), s.MirrorFsync.Mean.Round(time.Microsecond), s.MirrorFsync.Max.Round(time.Microsecond))
		if l := s.Logs; l != nil {
			cur := l.Current
			if cur == "" {
				cur = "none yet"
			}
			fmt.Fprintf(w, "logs:        current %s, %d sealed, %d retained on the mirror, %s written (%s/s)\n",
				cur, l.Sealed, l.Retained, humanize.IBytes(uint64(l.BytesWritten)), humanize.IBytes(uint64(l.BytesPerSec)))
		}
		if s.PrimaryErrors > 0 && s.PrimaryLost == nil {
			fmt.Fprintf(w, "PRIMARY:     FAILING: %d I/O errors returned to the application; last: %s. Consider failing over: mirrorctl unmount, then mirrorctl promote\n", s.PrimaryErrors, s.PrimaryError)
		}
		if s.MirrorErrors > 0 {
			fmt.Fprintf(w, "mirror errors: %d\n", s.MirrorErrors)
		}
		printForeign(w, s, r.ForeignWatch)
	}
	printArchive(w, r.Archive)
	printEngineStatus(w, r.Engine)
	if r.SinceCheckpoint != nil {
		fmt.Fprintf(w, "to replay:   %s of log since the last checkpoint (what a promote would replay now)\n", humanize.IBytes(uint64(*r.SinceCheckpoint)))
	}
	if r.Problem != "" {
		fmt.Fprintf(w, "NOT HEALTHY: %s\n", r.Problem)
	}
	if r.Note != "" {
		fmt.Fprintf(w, "note:        %s\n", r.Note)
	}
}

// printForeign is the line on writes made to the primary behind the mount's back.
func printForeign(w io.Writer, s *mirror.Stats, watch string) {
	switch last := s.LastForeignWrite; {
	case last != nil:
		by := fmt.Sprintf("pid %d", last.PID)
		if last.Comm != "" {
			by += " (" + last.Comm + ")"
		}
		if last.PID == 0 {
			by = "lost events"
		}
		fmt.Fprintf(w, "foreign:     %s writes to the primary behind the mount's back; last: %s by %s %s. Point applications at the mount point\n",
			humanize.Comma(s.ForeignWrites), last.Path, by, humanize.Time(last.At))
	case watch == "fanotify":
		fmt.Fprintln(w, "foreign:     no write to the primary behind the mount's back (watched with fanotify)")
	case watch != "":
		fmt.Fprintf(w, "foreign:     %s\n", watch)
	}
}

// printArchive is the line on the background pusher of --archive.
func printArchive(w io.Writer, a *archive.PusherStatus) {
	if a == nil {
		return
	}
	last := "no push yet"
	if !a.LastUpload.IsZero() {
		last = "last upload " + humanize.Time(a.LastUpload)
	}
	fmt.Fprintf(w, "archive:     %s, %.0f s and %s behind, %s (every %s)\n", a.Location, a.LagSeconds, humanize.IBytes(uint64(a.LagBytes)), last, a.Interval)
	if a.Failing {
		fmt.Fprintf(w, "ARCHIVE:     FAILING (%d of %d pushes): %s\n", a.Failures, a.Pushes, a.LastError)
	}
}
