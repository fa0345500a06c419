package recovery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/mirror"
	"golang.org/x/sys/unix"
)

// Options say what to promote and how.
type Options struct {
	Mirror  string // the mirror directory to promote
	Primary string // the old primary, if it may still be read (optional)
	// Catastrophic runs the engine's catastrophic recovery (every log) instead of the normal one.
	Catastrophic bool
	// DryRun rehearses the promotion on a throwaway copy-on-write view; the mirror is not touched.
	DryRun bool
	// Force promotes a mirror that is degraded or was never in sync; the report says what may be missing.
	Force  bool
	Engine engine.Engine
	// Step, if set, is told what promote is doing, for progress output.
	Step func(format string, args ...any)
}

// LogReplayed is a log file that recovery read.
type LogReplayed struct {
	File  string `json:"file"`
	Bytes int64  `json:"bytes"`
}

// Report is what a promotion did.
type Report struct {
	Mirror         string                `json:"mirror"`
	Primary        string                `json:"primary,omitempty"`
	DryRun         bool                  `json:"dry_run"`
	OK             bool                  `json:"ok"`
	Duration       time.Duration         `json:"duration_ns"`
	Recovery       engine.RecoveryReport `json:"recovery"`
	Replayed       []LogReplayed         `json:"replayed"`
	ReplayedBytes  int64                 `json:"replayed_bytes"`
	LogFiles       int                   `json:"log_files"` // log files in the environment
	Salvaged       []Salvaged            `json:"salvaged"`
	SalvageNote    string                `json:"salvage_note,omitempty"`
	RegionsRemoved []string              `json:"regions_removed"`
	StaleMount     string                `json:"stale_mount_removed,omitempty"`
	Generation     uint64                `json:"generation,omitempty"`
	ID             string                `json:"id,omitempty"`
	MayBeMissing   []string              `json:"may_be_missing"`
}

// ErrRefused marks a promotion refused before anything was changed.
var ErrRefused = errors.New("promotion refused")

type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }
func (r *refusal) Unwrap() error { return ErrRefused }

func refuse(format string, args ...any) error { return &refusal{msg: fmt.Sprintf(format, args...)} }

// Promote turns the mirror into the production environment; see the package documentation.
func Promote(ctx context.Context, o Options) (Report, error) {
	start := time.Now()
	r := Report{Mirror: o.Mirror, Primary: o.Primary, DryRun: o.DryRun}
	step := o.Step
	if step == nil {
		step = func(string, ...any) {}
	}
	rec, err := check(o, &r)
	if err != nil {
		return r, err
	}
	if err := o.Engine.Available(); err != nil {
		return r, err
	}
	dir := o.Mirror
	if o.DryRun {
		view, cleanup, err := overlayView(o.Mirror)
		if err != nil {
			return r, err
		}
		defer cleanup()
		dir = view
		step("dry run: working on a copy-on-write view of %s", o.Mirror)
	} else {
		lock, err := mirror.TryLock(o.Mirror, mirror.Holder{PID: os.Getpid(), Command: "promote"})
		if err != nil {
			stale, serr := staleMount(o.Mirror, rec)
			if serr != nil || stale == "" {
				return r, err
			}
			r.StaleMount = stale
			step("removed the stale mount left at %s by a killed mount process", stale)
			if lock, err = mirror.TryLock(o.Mirror, mirror.Holder{PID: os.Getpid(), Command: "promote"}); err != nil {
				return r, err
			}
		}
		defer lock.Unlock()
		// A mount process killed with SIGKILL released the lock but may have left its dead mount.
		if r.StaleMount == "" && rec.State == mirror.StateServing {
			if stale, err := staleMount(o.Mirror, rec); err == nil && stale != "" {
				r.StaleMount = stale
				step("removed the stale mount left at %s by a killed mount process", stale)
			}
		}
		// Read the record again under the lock: a mount may have started or stopped meanwhile.
		r.MayBeMissing = nil
		if rec, err = check(o, &r); err != nil {
			return r, err
		}
	}

	if o.Primary != "" {
		step("salvaging the log tail from %s", o.Primary)
		if same, why := sameEnvironment(o.Primary, rec); !same {
			r.SalvageNote = why
		} else if r.Salvaged, r.SalvageNote, err = salvage(ctx, o.Engine, o.Primary, dir, o.Catastrophic); err != nil {
			return r, err
		}
	}
	if r.RegionsRemoved, err = o.Engine.RemoveRegions(dir); err != nil {
		return r, fmt.Errorf("remove region files from %s: %w", dir, err)
	}
	if o.Catastrophic {
		step("running catastrophic recovery: it replays every log file%s", logsToReplay(o.Engine, dir))
	} else {
		step("running normal recovery")
	}
	if r.Recovery, err = o.Engine.Recover(ctx, dir, o.Catastrophic); err != nil {
		if o.Catastrophic {
			return r, fmt.Errorf("catastrophic recovery of %s failed: %w", o.Mirror, err)
		}
		return r, fmt.Errorf("normal recovery of %s failed (%w): the mirror is not promoted; try mirrorctl promote --catastrophic, which replays every retained log", o.Mirror, err)
	}
	step("checking databases and the log sequence")
	logs, err := o.Engine.Logs(dir)
	if err != nil {
		return r, err
	}
	r.LogFiles = len(logs)
	if err := engine.CheckLogSequence(logs); err != nil {
		return r, fmt.Errorf("after recovery of %s: %w", o.Mirror, err)
	}
	for _, l := range logs {
		if l.Number >= r.Recovery.FirstLog && (r.Recovery.LastLog == 0 || l.Number <= r.Recovery.LastLog) {
			r.Replayed = append(r.Replayed, LogReplayed{File: l.Rel, Bytes: l.Size})
			r.ReplayedBytes += l.Size
		}
	}
	if err := o.Engine.Verify(ctx, dir); err != nil {
		return r, fmt.Errorf("after recovery of %s: %w", o.Mirror, err)
	}
	if !o.DryRun {
		if err := markPromoted(o, rec, &r); err != nil {
			return r, err
		}
	}
	r.OK = true
	r.Duration = time.Since(start)
	return r, nil
}

// logsToReplay says how many log files and bytes dir holds, for the step of a catastrophic recovery:
// a directory listing, cheap. (The tail a normal recovery replays takes a db_printlog run to find,
// which a failover should not wait for.)
func logsToReplay(eng engine.Engine, dir string) string {
	logs, err := eng.Logs(dir)
	if err != nil {
		return ""
	}
	var n int64
	for _, l := range logs {
		n += l.Size
	}
	return fmt.Sprintf(" (%d files, %s)", len(logs), humanize.IBytes(uint64(n)))
}

// check refuses what must not be promoted, before anything changes.
func check(o Options, r *Report) (mirror.Record, error) {
	st, err := os.Stat(o.Mirror)
	if err != nil {
		return mirror.Record{}, refuse("mirror %s does not exist: give the failover directory with --mirror", o.Mirror)
	}
	if !st.IsDir() {
		return mirror.Record{}, refuse("mirror %s is not a directory: give the failover directory with --mirror", o.Mirror)
	}
	rec, ok, err := mirror.ReadRecord(o.Mirror)
	if err != nil {
		return rec, err
	}
	if !ok {
		if _, isEnv, _ := mirror.ReadIdentity(o.Mirror); isEnv {
			return rec, refuse("%s is already a production environment, not a mirror: open it directly", o.Mirror)
		}
		return rec, refuse("%s is not a mirrorctl mirror (no %s/mirror.json): for a plain copy of an environment run the engine's catastrophic recovery yourself", o.Mirror, mirror.MetaDir)
	}
	logs, err := o.Engine.Logs(o.Mirror)
	if err != nil {
		return rec, fmt.Errorf("list log files of %s: %w", o.Mirror, err)
	}
	if len(logs) == 0 {
		return rec, refuse("%s holds no %s log files: it is not a database environment, nothing to recover", o.Mirror, o.Engine.Name())
	}
	switch rec.State {
	case mirror.StatePromoted:
		return rec, refuse("%s was already promoted at %s: open it directly, or mount it as the new primary", o.Mirror, rec.PromotedAt.Format(time.RFC3339))
	case mirror.StateNew, mirror.StateSyncing:
		if !o.Force {
			return rec, refuse("mirror %s was never completely in sync (state %s): it may miss data; finish a sync first, or pass --force to promote it anyway", o.Mirror, rec.State)
		}
		r.MayBeMissing = append(r.MayBeMissing, fmt.Sprintf("the mirror was never completely in sync (state %s): any file may be incomplete", rec.State))
	case mirror.StateInSync:
		if rec.NeedsRecovery && !o.Catastrophic {
			return rec, refuse("mirror %s was copied from a running environment by mirrorctl sync: only catastrophic recovery makes it consistent; run promote --catastrophic (or sync --recover first)", o.Mirror)
		}
	case mirror.StateDegraded:
		if !o.Force {
			return rec, refuse("mirror %s is DEGRADED since the mirror disk failed (%s): it misses changes; resync it, or pass --force to promote it anyway", o.Mirror, rec.DegradedNote)
		}
		r.MayBeMissing = append(r.MayBeMissing, "the mirror was degraded: changes since "+rec.DegradedNote+" may be missing")
	}
	if o.Primary != "" {
		if d, ok, _ := mirror.ReadDegraded(o.Primary); ok {
			if !o.Force {
				return rec, refuse("mirror %s is DEGRADED since %s (%s): it misses changes to %d paths; resync it, or pass --force to promote it anyway", o.Mirror, d.Since.Format(time.RFC3339), d.Reason, len(d.Dirty))
			}
			r.MayBeMissing = append(r.MayBeMissing, fmt.Sprintf("the mirror was degraded since %s: %d paths changed since then", d.Since.Format(time.RFC3339), len(d.Dirty)))
		}
	}
	return rec, nil
}

// sameEnvironment reports whether primary is the environment the mirror mirrored.
func sameEnvironment(primary string, rec mirror.Record) (bool, string) {
	id, ok, err := mirror.ReadIdentity(primary)
	switch {
	case err != nil:
		return false, fmt.Sprintf("primary %s unreadable (%v): nothing salvaged", primary, err)
	case !ok:
		return false, fmt.Sprintf("primary %s has no mirrorctl identity (dead disk, or not the mirrored environment): nothing salvaged", primary)
	case id.ID != rec.PrimaryID:
		return false, fmt.Sprintf("primary %s is another environment (id %.8s, the mirror's is %.8s): nothing salvaged", primary, id.ID, rec.PrimaryID)
	}
	return true, ""
}

// markPromoted records the promotion durably: first the mirror's record (so that it can never again
// be taken for a mirror), then its new identity, then, if it can, the old primary's demotion.
func markPromoted(o Options, rec mirror.Record, r *Report) error {
	now := time.Now().UTC()
	rec.State, rec.PromotedAt, rec.Clean = mirror.StatePromoted, now, true
	if err := mirror.WriteRecord(o.Mirror, rec); err != nil {
		return fmt.Errorf("record the promotion: %w", err)
	}
	id := mirror.NewGeneration(mirror.Identity{ID: rec.PrimaryID, Generation: rec.Generation}, rec.PrimaryID)
	if err := mirror.WriteIdentity(o.Mirror, id); err != nil {
		return fmt.Errorf("record the new generation: %w", err)
	}
	r.Generation, r.ID = id.Generation, id.ID
	if o.Primary != "" {
		if old, ok, err := mirror.ReadIdentity(o.Primary); err == nil && ok && old.ID == rec.PrimaryID {
			old.SupersededBy = fmt.Sprintf("%d (id %.8s, at %s)", id.Generation, id.ID, o.Mirror)
			_ = mirror.WriteIdentity(o.Primary, old) // best effort: the old disk may be dead
		}
	}
	return nil
}

// staleMount finds the mount point of a killed mount process that still holds the mirror's name, and
// detaches it. It returns "" when the lock holder is alive (a real mount serves the mirror).
func staleMount(dir string, rec mirror.Record) (string, error) {
	h, _ := mirror.ReadHolder(dir)
	pid := rec.PID
	if pid == 0 {
		pid = h.PID
	}
	if pid != 0 && pid != os.Getpid() && mirror.ProcessAlive(pid) {
		return "", nil
	}
	mp := rec.MountPoint
	if mp == "" {
		mp = h.MountPoint
	}
	if mp == "" {
		return "", nil
	}
	if ok, _ := mirror.MountedAt(mp); !ok {
		return "", nil
	}
	if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
		return "", err
	}
	return mp, nil
}

// overlayView mounts a copy-on-write view of dir (overlayfs, the changes kept in a temporary
// directory) and returns its path and a function that removes it.
func overlayView(dir string) (string, func(), error) {
	tmp, err := os.MkdirTemp("", "mirrorctl-dryrun-")
	if err != nil {
		return "", nil, err
	}
	upper, work, view := filepath.Join(tmp, "upper"), filepath.Join(tmp, "work"), filepath.Join(tmp, "view")
	for _, d := range []string{upper, work, view} {
		if err := os.Mkdir(d, 0o700); err != nil {
			os.RemoveAll(tmp)
			return "", nil, err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", dir, upper, work)
	if err := unix.Mount("overlay", view, "overlay", 0, opts); err != nil {
		os.RemoveAll(tmp)
		return "", nil, fmt.Errorf("dry run needs an overlay mount (root, overlayfs): %w", err)
	}
	return view, func() {
		_ = unix.Unmount(view, unix.MNT_DETACH)
		os.RemoveAll(tmp)
	}, nil
}
