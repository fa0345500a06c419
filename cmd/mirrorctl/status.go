package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/dustin/go-humanize"
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
}

// addTail fills in the log bytes that a promote would replay, when the engine can tell.
func (r *statusReport) addTail(ctx context.Context, eng engine.Engine) {
	if eng == nil || eng.Available() != nil || r.Mirror == "" {
		return
	}
	if n, err := eng.BytesSinceCheckpoint(ctx, r.Mirror); err == nil {
		r.SinceCheckpoint = &n
	}
}

func liveStatus(s *mirror.Session, mp string, resyncEvery time.Duration) any {
	st := s.Stats()
	r := statusReport{State: meta.StateServing, Live: true, MountPoint: mp, PID: os.Getpid(),
		Primary: s.Pair.Primary, Mirror: s.Pair.Mirror, Generation: s.Identity.Generation, Stats: &st}
	if d := s.Degraded(); d != nil {
		r.State, r.Degraded = meta.StateDegraded, d
		if s.Mirror.Released() {
			r.Note = "the mount let go of the mirror's disk: unmount it, repair or replace it, mount it at the same place, then run mirrorctl resync " + mp
		}
	}
	if a := s.LastResync(); !a.At.IsZero() || a.Active {
		r.Resync = &a
	}
	r.ResyncEvery = resyncEvery
	if rec, ok, err := meta.ReadRecord(s.Pair.Mirror); err == nil && ok {
		r.LastSync = rec.LastSync
	}
	return r
}

// offlineStatus reads what the metadata of a mirror directory says.
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
	rec, ok, err := meta.ReadRecord(target)
	if err != nil {
		return r, err
	}
	if !ok {
		if _, isEnv, _ := meta.ReadIdentity(target); isEnv {
			r.State = meta.StatePromoted
			return r, nil
		}
		r.State = meta.StateNew
		r.Note = "never synced: run mirrorctl mount or mirrorctl sync"
		return r, nil
	}
	r.State, r.Clean, r.LastSync, r.Generation = rec.State, rec.Clean, rec.LastSync, rec.Generation
	if r.Primary == "" {
		r.Primary = rec.PrimaryPath
	}
	if rec.State == meta.StateServing {
		if h, _ := lock.ReadHolder(target); !host.ProcessAlive(h.PID) || !rec.Clean {
			r.Note = "the mount that served this mirror is gone without a clean stop: the next mount or sync compares by content and repairs it"
		}
	}
	if d, ok, err := meta.ReadDegraded(r.Primary); err == nil && ok {
		r.State, r.Degraded = meta.StateDegraded, &d
	}
	return r, nil
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show where a mount or a mirror stands",
		ArgsUsage: "[MOUNTPOINT]",
		Description: "status asks the running mount process, or reads a stopped mirror's metadata. Exit status 3\n" +
			"means the mirror is DEGRADED.\n\n" +
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
		if err := queryStatus(mp, &r); err != nil {
			var denied *control.DeniedError
			if errors.As(err, &denied) {
				return err
			}
			mi, ok := readMountInfo(mp)
			if !ok {
				return fmt.Errorf("no mirrorctl mount serves %s: give the mount point of a running mount, or --mirror DIR for a stopped mirror", mp)
			}
			if r, err = offlineStatus(mi.Primary, mi.Mirror); err != nil {
				return err
			}
			r.MountPoint = mp
			r.Note = "the mount process (pid " + fmt.Sprint(mi.PID) + ") does not answer; if it was killed, run mirrorctl unmount " + mp
		}
	case c.NArg() == 0 && c.String("mirror") != "":
		var err error
		if r, err = offlineStatus(c.String("primary"), c.String("mirror")); err != nil {
			return err
		}
	default:
		return usageError("status needs a MOUNTPOINT argument or --mirror DIR")
	}
	if eng, err := engineFor(c); err == nil {
		r.addTail(c.Context, eng)
	}
	if c.Bool("json") {
		if err := writeJSON(c.App.Writer, r); err != nil {
			return err
		}
	} else {
		printStatus(c.App.Writer, r)
	}
	// The same exit status with or without --json: scripts test it.
	if r.State == meta.StateDegraded {
		fix := "run mirrorctl sync (or mount) once its disk works"
		if r.Live {
			fix = "run mirrorctl resync " + r.MountPoint + " once its disk works (a new disk mounted at the same place is fine)"
		}
		return &exitError{code: exitDegraded, err: errors.New("mirror is DEGRADED: it misses changes; " + fix)}
	}
	return nil
}

func printStatus(w io.Writer, r statusReport) {
	state := string(r.State)
	if r.State == meta.StateDegraded {
		state = "DEGRADED"
	}
	fmt.Fprintf(w, "state:       %s\n", state)
	if r.MountPoint != "" {
		fmt.Fprintf(w, "mount point: %s", r.MountPoint)
		if r.PID != 0 {
			fmt.Fprintf(w, " (pid %d)", r.PID)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "primary:     %s\nmirror:      %s\n", r.Primary, r.Mirror)
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
		if s.PrimaryErrors > 0 {
			fmt.Fprintf(w, "PRIMARY:     FAILING: %d I/O errors returned to the application; last: %s. Consider failing over: mirrorctl unmount, then mirrorctl promote\n", s.PrimaryErrors, s.PrimaryError)
		}
		if s.MirrorErrors > 0 {
			fmt.Fprintf(w, "mirror errors: %d\n", s.MirrorErrors)
		}
	}
	if r.SinceCheckpoint != nil {
		fmt.Fprintf(w, "to replay:   %s of log since the last checkpoint (what a promote would replay now)\n", humanize.IBytes(uint64(*r.SinceCheckpoint)))
	}
	if r.Note != "" {
		fmt.Fprintf(w, "note:        %s\n", r.Note)
	}
}
