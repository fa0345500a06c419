package recovery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/host"
	"github.com/mirrorctl/mirrorctl/lock"
	"github.com/mirrorctl/mirrorctl/meta"
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
	Force bool
	// Engine is the engine the mirror's record names. What only some engines have (rotating logs:
	// salvage and the log sequence; catastrophic recovery) is asked of it as a capability.
	Engine engine.Core
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
// Its steps, in order: check, take the mirror (or a dry run's view of it), salvage the primary's
// log tail, remove the region files, recover, check logs and databases, mark promoted.
func Promote(ctx context.Context, o Options) (Report, error) {
	start := time.Now()
	p := &promotion{o: o, r: Report{Mirror: o.Mirror, Primary: o.Primary, DryRun: o.DryRun}, step: o.Step}
	if p.step == nil {
		p.step = func(string, ...any) {}
	}
	err := p.run(ctx)
	if err == nil {
		p.r.OK = true
		p.r.Duration = time.Since(start)
	}
	return p.r, err
}

// promotion is one run of Promote: what it was asked, what it found and what it did so far.
type promotion struct {
	o    Options
	r    Report
	step func(format string, args ...any)
	rec  meta.Record // the mirror's record, read again once the mirror is taken
	dir  string      // where recovery works: the mirror, or a dry run's view of it
}

func (p *promotion) run(ctx context.Context) error {
	var err error
	if p.rec, err = check(p.o, &p.r); err != nil {
		return err
	}
	if err := p.o.Engine.Available(); err != nil {
		return err
	}
	if _, ok := p.o.Engine.(engine.Catastrophic); p.o.Catastrophic && !ok {
		return refuse("%s keeps no log history, so there is no catastrophic recovery of %s: promote without --catastrophic", p.o.Engine.Name(), p.o.Mirror)
	}
	release, err := p.take()
	if err != nil {
		return err
	}
	defer release()
	if err := p.salvageTail(ctx); err != nil {
		return err
	}
	if err := p.removeRegions(); err != nil {
		return err
	}
	if err := p.recover(ctx); err != nil {
		return err
	}
	if err := p.checkResult(ctx); err != nil {
		return err
	}
	if p.o.DryRun {
		return nil
	}
	return markPromoted(p.o, p.rec, &p.r)
}

// take gives recovery its directory: for a dry run a copy-on-write view of the mirror, otherwise the
// mirror itself, locked, with the record read again under the lock (a mount may have started or
// stopped meanwhile). The returned function releases it.
func (p *promotion) take() (func(), error) {
	if p.o.DryRun {
		view, cleanup, err := overlayView(p.o.Mirror)
		if err != nil {
			return nil, err
		}
		p.dir = view
		p.step("dry run: working on a copy-on-write view of %s", p.o.Mirror)
		return cleanup, nil
	}
	l, err := p.lock()
	if err != nil {
		return nil, err
	}
	p.dir = p.o.Mirror
	p.r.MayBeMissing = nil
	if p.rec, err = check(p.o, &p.r); err != nil {
		_ = l.Unlock()
		return nil, err
	}
	return func() { _ = l.Unlock() }, nil
}

// lock takes the mirror's lock for promote. A mount process killed with SIGKILL may have left its
// dead mount behind, still holding the lock or having released it while the record still says
// serving: that mount is detached (once), and the lock taken again if it was held.
func (p *promotion) lock() (*lock.Lock, error) {
	holder := lock.Holder{PID: os.Getpid(), Command: "promote"}
	l, lockErr := lock.TryLock(p.o.Mirror, holder)
	if lockErr != nil || p.rec.State == meta.StateServing {
		if stale, err := staleMount(p.o.Mirror, p.rec); err == nil && stale != "" {
			p.r.StaleMount = stale
			p.step("removed the stale mount left at %s by a killed mount process", stale)
		}
	}
	if lockErr == nil {
		return l, nil
	}
	if p.r.StaleMount == "" {
		return nil, lockErr
	}
	return lock.TryLock(p.o.Mirror, holder)
}

// salvageTail copies the log tail that the old primary has and the mirror lacks, if the primary is
// given and is the mirrored environment.
func (p *promotion) salvageTail(ctx context.Context) error {
	if p.o.Primary == "" {
		return nil
	}
	p.step("salvaging the log tail from %s", p.o.Primary)
	if same, why := sameEnvironment(p.o.Primary, p.rec); !same {
		p.r.SalvageNote = why
		return nil
	}
	logs, ok := p.o.Engine.(engine.RotatingLogs)
	if !ok {
		p.r.SalvageNote = p.o.Engine.Name() + " has no rotating log whose tail could be salvaged: nothing salvaged"
		return nil
	}
	var err error
	p.r.Salvaged, p.r.SalvageNote, err = salvage(ctx, logs, p.o.Primary, p.dir, p.o.Catastrophic)
	return err
}

// removeRegions removes the engine's region files, which describe the old primary's processes.
func (p *promotion) removeRegions() error {
	var err error
	if p.r.RegionsRemoved, err = p.o.Engine.RemoveRegions(p.dir); err != nil {
		return fmt.Errorf("remove region files from %s: %w", p.dir, err)
	}
	return nil
}

// recover runs the engine's normal or catastrophic recovery; a failed normal recovery is reported,
// never followed by another one.
func (p *promotion) recover(ctx context.Context) error {
	var err error
	if cat, ok := p.o.Engine.(engine.Catastrophic); ok && p.o.Catastrophic { // run checked the capability
		p.step("running catastrophic recovery: it replays every log file%s", logsToReplay(p.o.Engine, p.dir))
		if p.r.Recovery, err = cat.Recover(ctx, p.dir, true); err != nil {
			return fmt.Errorf("catastrophic recovery of %s failed: %w", p.o.Mirror, err)
		}
		return nil
	}
	p.step("running normal recovery")
	if p.r.Recovery, err = p.o.Engine.Restart(ctx, p.dir); err != nil {
		if _, ok := p.o.Engine.(engine.Catastrophic); !ok {
			return fmt.Errorf("recovery of %s failed (%w): the mirror is not promoted", p.o.Mirror, err)
		}
		return fmt.Errorf("normal recovery of %s failed (%w): the mirror is not promoted; try mirrorctl promote --catastrophic, which replays every retained log", p.o.Mirror, err)
	}
	return nil
}

// checkResult checks the recovered environment: its log sequence has no gap, and its databases
// verify. It records which log files recovery replayed.
func (p *promotion) checkResult(ctx context.Context) error {
	lg, ok := p.o.Engine.(engine.RotatingLogs)
	if !ok {
		p.step("checking databases")
		if err := p.o.Engine.Verify(ctx, p.dir); err != nil {
			return fmt.Errorf("after recovery of %s: %w", p.o.Mirror, err)
		}
		return nil
	}
	p.step("checking databases and the log sequence")
	logs, err := lg.Logs(p.dir)
	if err != nil {
		return err
	}
	p.r.LogFiles = len(logs)
	if err := engine.CheckLogSequence(logs); err != nil {
		return fmt.Errorf("after recovery of %s: %w", p.o.Mirror, err)
	}
	rr := p.r.Recovery
	for _, l := range logs {
		if l.Number >= rr.FirstLog && (rr.LastLog == 0 || l.Number <= rr.LastLog) {
			p.r.Replayed = append(p.r.Replayed, LogReplayed{File: l.Rel, Bytes: l.Size})
			p.r.ReplayedBytes += l.Size
		}
	}
	if err := p.o.Engine.Verify(ctx, p.dir); err != nil {
		return fmt.Errorf("after recovery of %s: %w", p.o.Mirror, err)
	}
	return nil
}

// logsToReplay says how many log files and bytes dir holds, for the step of a catastrophic recovery:
// a directory listing, cheap. (The tail a normal recovery replays takes a db_printlog run to find,
// which a failover should not wait for.)
func logsToReplay(eng engine.Core, dir string) string {
	lg, ok := eng.(engine.RotatingLogs)
	if !ok {
		return ""
	}
	logs, err := lg.Logs(dir)
	if err != nil {
		return ""
	}
	var n int64
	for _, l := range logs {
		n += l.Size
	}
	return fmt.Sprintf(" (%d files, %s)", len(logs), humanize.IBytes(uint64(n)))
}

// check refuses what must not be promoted, before anything changes. The mirror's state comes before
// its content: an interrupted sync lacks log files because it was interrupted, and says so.
func check(o Options, r *Report) (meta.Record, error) {
	st, err := os.Stat(o.Mirror)
	if err != nil {
		return meta.Record{}, refuse("mirror %s does not exist: give the failover directory with --mirror", o.Mirror)
	}
	if !st.IsDir() {
		return meta.Record{}, refuse("mirror %s is not a directory: give the failover directory with --mirror", o.Mirror)
	}
	if err := checkOldPrimary(o); err != nil {
		return meta.Record{}, err
	}
	rec, ok, err := meta.ReadRecord(o.Mirror)
	if err != nil {
		return rec, err
	}
	if !ok {
		if _, isEnv, _ := meta.ReadIdentity(o.Mirror); isEnv {
			return rec, refuse("%s is already a production environment, not a mirror: open it directly", o.Mirror)
		}
		return rec, refuse("%s is not a mirrorctl mirror (no %s/mirror.json): for a plain copy of an environment run the engine's catastrophic recovery yourself", o.Mirror, meta.Dir)
	}
	if o.Primary != "" {
		// A readable identity that is not the mirrored one is a wrong --primary, not a dead disk:
		// promoting on would salvage nothing and leave the real old primary unmarked.
		if id, isEnv, err := meta.ReadIdentity(o.Primary); err == nil && isEnv && id.ID != rec.PrimaryID {
			return rec, refuse("--primary %s is another environment (id %.8s); this mirror's primary is %s (id %.8s): give that directory as --primary, or leave --primary out when its disk is gone", o.Primary, id.ID, rec.PrimaryPath, rec.PrimaryID)
		}
	}
	switch rec.State {
	case meta.StatePromoted:
		if rec.PrimaryLost != "" {
			return rec, refuse("%s took over online at %s, when a mount lost its primary %s (%s): it is the production environment now, no mirror to promote. Mount it as the primary (--primary %s) with a new mirror; the application's next open runs normal recovery", o.Mirror, rec.PromotedAt.Format(time.RFC3339), rec.PrimaryPath, rec.PrimaryLost, o.Mirror)
		}
		return rec, refuse("%s was already promoted at %s: open it directly, or mount it as the new primary", o.Mirror, rec.PromotedAt.Format(time.RFC3339))
	case meta.StateNew, meta.StateSyncing:
		if !o.Force {
			return rec, refuse("mirror %s was never completely in sync (state %s): it may miss data; finish a sync first, or pass --force to promote it anyway", o.Mirror, rec.State)
		}
		r.MayBeMissing = append(r.MayBeMissing, fmt.Sprintf("the mirror was never completely in sync (state %s): any file may be incomplete", rec.State))
	case meta.StateInSync:
		if rec.NeedsRecovery && !o.Catastrophic {
			return rec, refuse("mirror %s was copied from a running environment by mirrorctl sync: only catastrophic recovery makes it consistent; run promote --catastrophic (or sync --recover first)", o.Mirror)
		}
	case meta.StateDegraded:
		if !o.Force {
			return rec, refuse("mirror %s is DEGRADED since the mirror disk failed (%s): it misses changes; resync it, or pass --force to promote it anyway", o.Mirror, rec.DegradedNote)
		}
		r.MayBeMissing = append(r.MayBeMissing, "the mirror was degraded: changes since "+rec.DegradedNote+" may be missing")
	}
	if primary := degradedMarkerSide(o, rec); primary != "" {
		if d, ok, _ := meta.ReadDegraded(primary); ok {
			if !o.Force {
				return rec, refuse("mirror %s is DEGRADED since %s (%s): it misses changes to %d paths; resync it, or pass --force to promote it anyway", o.Mirror, d.Since.Format(time.RFC3339), d.Reason, len(d.Dirty))
			}
			r.MayBeMissing = append(r.MayBeMissing, fmt.Sprintf("the mirror was degraded since %s: %d paths changed since then", d.Since.Format(time.RFC3339), len(d.Dirty)))
		}
	}
	return rec, checkContent(o)
}

// checkContent refuses a mirror that holds nothing the engine could recover: for an engine with
// rotating logs, no log file; for one that lists its databases, no database.
func checkContent(o Options) error {
	if lg, ok := o.Engine.(engine.RotatingLogs); ok {
		logs, err := lg.Logs(o.Mirror)
		if err != nil {
			return fmt.Errorf("list log files of %s: %w", o.Mirror, err)
		}
		if len(logs) == 0 {
			return refuse("%s holds no %s log files: it is not a database environment, nothing to recover", o.Mirror, o.Engine.Name())
		}
		return nil
	}
	if dl, ok := o.Engine.(engine.DatabaseLister); ok {
		dbs, err := dl.Databases(o.Mirror)
		if err != nil {
			return fmt.Errorf("list the %s databases of %s: %w", o.Engine.Name(), o.Mirror, err)
		}
		if len(dbs) == 0 {
			return refuse("%s holds no %s database: nothing to recover", o.Mirror, o.Engine.Name())
		}
	}
	return nil
}

// degradedMarkerSide is the primary whose degraded marker tells whether the mirror misses changes:
// the one given, else the one the record names if it is still readable and the same environment. A
// mount that degraded keeps the mark on the primary's side only (the record says serving while it
// runs, and still after a kill or a release of the mirror's disk), so a promote, or a dry run, that
// looked only at the record would call a degraded mirror whole.
func degradedMarkerSide(o Options, rec meta.Record) string {
	if o.Primary != "" {
		return o.Primary
	}
	if rec.PrimaryPath == "" {
		return ""
	}
	if same, _ := sameEnvironment(rec.PrimaryPath, rec); !same {
		return ""
	}
	return rec.PrimaryPath
}

// sameEnvironment reports whether primary is the environment the mirror mirrored.
func sameEnvironment(primary string, rec meta.Record) (bool, string) {
	id, ok, err := meta.ReadIdentity(primary)
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

// checkOldPrimary refuses a --primary that cannot be the old primary of this failover: the mirror
// itself (the real old primary would never be marked superseded, and its tail never salvaged), or a
// primary that a running mount or sync writes now (it is alive: promoting a mirror of it makes two
// primaries). A primary that cannot be read (a dead disk) passes: salvage says what it could take.
func checkOldPrimary(o Options) error {
	if o.Primary == "" {
		return nil
	}
	if pst, err := os.Stat(o.Primary); err == nil {
		if mst, err := os.Stat(o.Mirror); err == nil && os.SameFile(pst, mst) {
			return refuse("--primary %s is the mirror itself: give the old primary's directory (or leave --primary out when its disk is gone)", o.Primary)
		}
	}
	var le *lock.LockedError
	if err := lock.HeldPrimary(o.Primary); errors.As(err, &le) {
		where := fmt.Sprintf("pid %d", le.Holder.PID)
		if le.Holder.MountPoint != "" {
			where += " at " + le.Holder.MountPoint
		}
		return refuse("primary %s is alive: \"mirrorctl %s\" (%s) writes it now, so promoting a mirror of it would make two primaries; stop it first (mirrorctl unmount), then promote", o.Primary, le.Holder.Command, where)
	}
	return nil
}

// markPromoted records the promotion durably: first the mirror's record (so that it can never again
// be taken for a mirror), then its new identity, then, if it can, the old primary's demotion.
func markPromoted(o Options, rec meta.Record, r *Report) error {
	now := time.Now().UTC()
	rec.State, rec.PromotedAt, rec.Clean = meta.StatePromoted, now, true
	if err := meta.WriteRecord(o.Mirror, rec); err != nil {
		return fmt.Errorf("record the promotion: %w", err)
	}
	id := meta.NewGeneration(meta.Identity{ID: rec.PrimaryID, Generation: rec.Generation}, rec.PrimaryID)
	if err := meta.WriteIdentity(o.Mirror, id); err != nil {
		return fmt.Errorf("record the new generation: %w", err)
	}
	r.Generation, r.ID = id.Generation, id.ID
	if o.Primary != "" {
		if old, ok, err := meta.ReadIdentity(o.Primary); err == nil && ok && old.ID == rec.PrimaryID {
			old.SupersededBy = fmt.Sprintf("%d (id %.8s, at %s)", id.Generation, id.ID, o.Mirror)
			_ = meta.WriteIdentity(o.Primary, old) // best effort: the old disk may be dead
		}
	}
	return nil
}

// staleMount finds the mount point of a killed mount process that still holds the mirror's name, and
// detaches it. It returns "" when the lock holder is alive (a real mount serves the mirror).
func staleMount(dir string, rec meta.Record) (string, error) {
	h, _ := lock.ReadHolder(dir)
	pid := rec.PID
	if pid == 0 {
		pid = h.PID
	}
	if pid != 0 && pid != os.Getpid() && host.ProcessAlive(pid) {
		return "", nil
	}
	mp := rec.MountPoint
	if mp == "" {
		mp = h.MountPoint
	}
	if mp == "" {
		return "", nil
	}
	if ok, _ := host.MountedAt(mp); !ok {
		return "", nil
	}
	if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
		return "", err
	}
	return mp, nil
}

// overlayEscape escapes a path for overlayfs's options, where a comma ends an option and a colon
// separates lower layers: the kernel takes a backslash before either (and before itself) literally.
func overlayEscape(p string) string {
	return strings.NewReplacer(`\`, `\\`, ",", `\,`, ":", `\:`).Replace(p)
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
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", overlayEscape(dir), overlayEscape(upper), overlayEscape(work))
	if err := unix.Mount("overlay", view, "overlay", 0, opts); err != nil {
		os.RemoveAll(tmp)
		return "", nil, fmt.Errorf("dry run needs an overlay mount (root, overlayfs): %w", err)
	}
	return view, func() {
		_ = unix.Unmount(view, unix.MNT_DETACH)
		os.RemoveAll(tmp)
	}, nil
}
