package mirror

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mirrorctl/mirrorctl/host"
	"github.com/mirrorctl/mirrorctl/lock"
	"github.com/mirrorctl/mirrorctl/meta"
	"golang.org/x/sys/unix"
)

// StartOptions tune Start.
type StartOptions struct {
	Claim    ClaimOptions
	Holder   lock.Holder // who takes the mirror's lock
	Serve    bool        // a mount will keep the mirror in sync after Start: record it as serving
	Full     bool        // compare every file's content even after a clean stop
	Keep     func(rel string) bool
	Skip     func(rel string) bool // paths the initial sync leaves alone
	Progress func(done, total int64)
	// Claimed, if set, is called once the checks passed and both locks are held, before the sync:
	// what a caller says of the work to come is not said for a start that is refused.
	Claimed func()
	Mirror  Options
	Policy  Policy
	// Engine is the engine of the primary's files, written in the record at every start (the caller
	// decided it from the previous record, --engine or the files); "" keeps the record's.
	Engine string
}

// Session is a mirror claimed, locked and brought up to date: what a mount serves, or what a sync
// leaves behind when it ends.
type Session struct {
	*Mirror
	Pair     Pair
	Identity meta.Identity
	// Previous is the mirror record found at start; Report is what the initial sync did.
	Previous    meta.Record
	HadRecord   bool
	Report      SyncReport
	FullCompare bool
	// Intents are the files compared by content after an unclean stop (when FullCompare is false).
	Intents []string
	lock    *lock.Lock // the mirror's; let go while the mirror's disk is released
	// primaryLock is held from Start to Stop: one primary, one mount (or sync).
	primaryLock *lock.Lock
	// attachedLock is the lock of a mirror attached after the primary was lost (the old mirror,
	// which serves now, keeps lock).
	attachedLock *lock.Lock
	holder       lock.Holder
	serve        bool
}

// Start claims the mirror for the primary, takes the primary's lock and the mirror's, and brings it
// up to date: by metadata after a clean stop, by content after an unclean one (a killed mount, a
// crash, an interrupted sync, a degraded period). Nothing is written before every check passed.
func Start(ctx context.Context, p Pair, o StartOptions) (*Session, error) {
	rec, hadRec, err := claim(p, o.Claim)
	if err != nil {
		return nil, err
	}
	plock, mlock, err := lockPair(p, o.Holder)
	if err != nil {
		return nil, err
	}
	s := &Session{Pair: p, Previous: rec, HadRecord: hadRec, lock: mlock, primaryLock: plock, holder: o.Holder, serve: o.Serve}
	if o.Claimed != nil {
		o.Claimed()
	}
	if err := s.bringUp(ctx, o); err != nil {
		if s.Mirror != nil {
			s.Mirror.Close()
		}
		mlock.Unlock()
		plock.Unlock()
		return nil, err
	}
	return s, nil
}

// lockPair takes the primary's lock (one primary, one mount or sync), creates the mirror directory
// if it is new, and takes the mirror's lock. A refusal leaves both trees as they were: a mirror in
// use is found before the primary's lock file is created, and a lock lost to a race is undone.
func lockPair(p Pair, h lock.Holder) (primary, mirror *lock.Lock, err error) {
	if err = lock.Held(p.Mirror); err != nil {
		return nil, nil, err
	}
	if primary, err = lock.TryLockPrimary(p.Primary, h); err != nil {
		return nil, nil, err
	}
	if err = createMirrorDir(p); err == nil {
		mirror, err = lock.TryLock(p.Mirror, h)
	}
	if err != nil {
		_ = primary.Undo()
		return nil, nil, err
	}
	return primary, mirror, nil
}

// claim checks that the mirror may serve the primary (see Claim) and returns its record, and whether
// it had one.
func claim(p Pair, o ClaimOptions) (meta.Record, bool, error) {
	_, rec, err := Claim(p, o)
	if err != nil {
		return meta.Record{}, false, err
	}
	_, hadRec, _ := meta.ReadRecord(p.Mirror)
	return rec, hadRec, nil
}

// createMirrorDir creates a mirror directory that does not exist yet, durably, with the primary's
// permissions.
func createMirrorDir(p Pair) error {
	if p.MirrorExists {
		return nil
	}
	pst, err := os.Stat(p.Primary)
	if err != nil {
		return err
	}
	if err := os.Mkdir(p.Mirror, pst.Mode().Perm()); err != nil {
		return meta.Explain(err)
	}
	return meta.SyncDir(filepath.Dir(p.Mirror))
}

// bringUp runs the steps of Start that need the lock: identify the primary, decide how to compare,
// open the Mirror, sync, and record the outcome. On an error the caller closes what was opened.
func (s *Session) bringUp(ctx context.Context, o StartOptions) error {
	degraded, err := s.identify(o.Claim)
	if err != nil {
		return err
	}
	contentOf := s.decideComparison(o, degraded)
	syncing := meta.Record{PrimaryID: s.Identity.ID, PrimaryPath: s.Pair.Primary, Generation: s.Identity.Generation,
		State: meta.StateSyncing, Sealed: s.Previous.Sealed, LastSync: s.Previous.LastSync, Engine: s.Previous.Engine}
	if o.Engine != "" {
		syncing.Engine = o.Engine
	}
	if s.Mirror, err = Open(s.Pair.Primary, s.Pair.Mirror, o.Policy, o.Mirror); err != nil {
		return err
	}
	if err := s.Mirror.record.Update(func(r *meta.Record) { *r = syncing }); err != nil {
		return err
	}
	if err := s.sync(ctx, o, contentOf); err != nil {
		err = syncFailure(s.Pair.Mirror, err)
		// Say it in the record too (best effort: the mirror's disk may be what failed).
		_ = s.Mirror.record.Update(func(r *meta.Record) { r.SyncFailed = err.Error() })
		return err
	}
	return s.finish(o, degraded, syncing)
}

// syncFailure is the one-line error of a sync that failed part way: readable however long the
// path it failed on, and saying that the mirror is incomplete and what to do. It unwraps to err.
func syncFailure(mirrorDir string, err error) error {
	msg := shortenPaths(err.Error())
	if errors.Is(err, unix.ENAMETOOLONG) {
		msg += ": the primary holds a name longer than the mirror's file system allows" +
			"; rename it, or leave it out with --exclude, then sync again"
	}
	msg += fmt.Sprintf("; mirror %s is incomplete: it stays marked syncing, and promote refuses it, until a sync completes", mirrorDir)
	return &readableError{msg: msg, err: err}
}

// readableError is an error with a message of its own, made for an operator, over the original.
type readableError struct {
	msg string
	err error
}

func (e *readableError) Error() string { return e.msg }
func (e *readableError) Unwrap() error { return e.err }

// longPath is the longest word of a message that is shown whole; a longer path is shortened.
const longPath = 120

// shortenPaths shortens every path in msg longer than longPath to its first and last names around
// "…", and its length: a tree deeper than PATH_MAX made a 4,000-character error line.
func shortenPaths(msg string) string {
	words := strings.Split(msg, " ")
	for i, w := range words {
		if len(w) > longPath && strings.Contains(w, "/") {
			words[i] = shortPath(w)
		}
	}
	return strings.Join(words, " ")
}

// shortPath is p (a word of a message, maybe ending in ":") as first/…/last, with its length.
func shortPath(p string) string {
	body := strings.TrimRight(p, ":,;")
	tail := p[len(body):]
	lead := ""
	if strings.HasPrefix(body, "/") {
		lead = "/"
	}
	names := strings.Split(strings.Trim(body, "/"), "/")
	cut := func(s string) string {
		if r := []rune(s); len(r) > 24 {
			return string(r[:12]) + "…" + string(r[len(r)-8:])
		}
		return s
	}
	return fmt.Sprintf("%s%s/…/%s (a path of %d bytes, %d names)%s", lead, cut(names[0]), cut(names[len(names)-1]), len(body), len(names), tail)
}

// identify makes sure the primary has an identity, forgets the mirror's on a rebuild, and reports
// whether the primary's side holds a degraded marker.
func (s *Session) identify(o ClaimOptions) (degraded bool, err error) {
	if s.Identity, err = meta.EnsureIdentity(s.Pair.Primary); err != nil {
		return false, err
	}
	if o.Rebuild {
		if err := meta.RemoveIdentity(s.Pair.Mirror); err != nil {
			return false, err
		}
	}
	_, degraded, err = meta.ReadDegraded(s.Pair.Primary)
	return degraded, err
}

// decideComparison sets FullCompare and Intents from the record found and the intent record, and
// returns the files to compare by content when the rest is compared by metadata.
func (s *Session) decideComparison(o StartOptions, degraded bool) map[string]bool {
	rec, hadRec := s.Previous, s.HadRecord
	s.FullCompare = o.Full || !hadRec || !rec.Clean || rec.State != meta.StateInSync || degraded ||
		rec.PrimaryID != s.Identity.ID
	// After a mount that stopped uncleanly, its intent record names the only files whose content can
	// differ; everything else is compared by metadata.
	intents, ok := ReadIntent(s.Pair.Mirror)
	if !ok || !s.FullCompare || o.Full || !hadRec || rec.Clean || rec.State != meta.StateServing || degraded ||
		rec.PrimaryID != s.Identity.ID || rec.BootID == "" || rec.BootID != host.BootID() {
		return nil
	}
	s.FullCompare, s.Intents = false, intents
	contentOf := map[string]bool{}
	for _, rel := range intents {
		contentOf[rel] = true
	}
	return contentOf
}

// sync brings the mirror up to date, then finds the logs and applies retention.
func (s *Session) sync(ctx context.Context, o StartOptions, contentOf map[string]bool) error {
	s.Mirror.degraded = nil // the sync below repairs whatever the marker named
	s.Mirror.degradedFlag.Store(false)
	var err error
	s.Report, err = s.Mirror.Sync(ctx, SyncOptions{Full: s.FullCompare, Keep: o.Keep, Progress: o.Progress, Skip: o.Skip, ContentOf: contentOf})
	if err != nil {
		return fmt.Errorf("bring mirror %s up to date: %w", s.Pair.Mirror, err)
	}
	s.Mirror.scanLogs()
	return s.Mirror.ApplyRetention()
}

// finish removes the degraded marker the sync repaired and records the mirror as in sync, or as
// served when a mount follows.
func (s *Session) finish(o StartOptions, degraded bool, next meta.Record) error {
	if degraded {
		if err := meta.ClearDegraded(s.Pair.Primary); err != nil {
			return err
		}
	}
	next.LastSync = time.Now().UTC()
	next.State, next.Clean = meta.StateInSync, true
	if o.Serve {
		next.State, next.Clean = meta.StateServing, false
		next.PID = os.Getpid()
		next.MountPoint = o.Holder.MountPoint
		next.BootID = host.BootID()
	}
	return s.Mirror.record.Update(func(r *meta.Record) { *r = next })
}

// Stop flushes both sides to disk, records whether the mirror is in sync (or degraded) and that it
// stopped cleanly, and releases the lock.
func (s *Session) Stop() error {
	s.Mirror.Drain()
	served, target := s.Mirror.Serving(), s.Mirror.MirrorDir()
	var errs []error
	if s.Mirror.PrimaryLost() != nil {
		errs = append(errs, recordServedStop(served), s.attachedLock.Unlock())
	}
	if s.Mirror.Released() {
		// The mirror's disk was let go (and may be unmounted): nothing to write there. The degraded
		// marker on the primary's side says what the next sync or resync must copy.
		return errors.Join(append(errs, syncfs(served), s.Mirror.Close(), s.lock.Unlock(), s.primaryLock.Unlock())...)
	}
	errs = append(errs, syncfs(served), syncfs(target))
	d := s.Mirror.Degraded()
	err := s.Mirror.record.Update(func(rec *meta.Record) {
		rec.Clean = true
		rec.PID = 0
		rec.MountPoint = ""
		rec.State = meta.StateInSync
		if d != nil {
			rec.State = meta.StateDegraded
			rec.DegradedNote = d.Reason
		}
	})
	if err == nil {
		err = s.Mirror.clearIntent()
	}
	errs = append(errs, err, s.Mirror.Close(), s.lock.Unlock(), s.primaryLock.Unlock())
	return errors.Join(errs...)
}

// recordServedStop marks the record of a mirror that took over from a lost primary (promoted, online)
// as stopped cleanly.
func recordServedStop(dir string) error {
	rec, ok, err := meta.ReadRecord(dir)
	if err != nil || !ok {
		return err
	}
	rec.Clean, rec.PID, rec.MountPoint = true, 0, ""
	if err := meta.WriteRecord(dir, rec); err != nil {
		return fmt.Errorf("record the stop of %s, which took over from the lost primary: %w", dir, err)
	}
	return nil
}

func syncfs(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

// Resync resyncs the mirror while it is served (see Mirror.Resync); when the mirror directory was a
// fresh one (a replaced disk), the session's lock is taken again there, so that the new mirror is
// protected like the old one.
func (s *Session) Resync(ctx context.Context) (ResyncAttempt, error) {
	relock := s.Mirror.Released()
	a, err := s.Mirror.Resync(ctx)
	if err != nil {
		s.ReleaseTarget() // a failed attempt may have opened the dead disk again
		return a, err
	}
	if s.Mirror.PrimaryLost() != nil {
		// A mirror attached after the primary was lost: the served directory keeps its lock.
		target := s.Mirror.MirrorDir()
		h, _ := lock.ReadHolder(target)
		if l, lerr := lock.TryLock(target, s.holder); lerr == nil {
			s.attachedLock.Unlock()
			s.attachedLock = l
		} else {
			err = fmt.Errorf("resynced, but cannot lock the new mirror (held by pid %d): %w", h.PID, lerr)
		}
		return a, err
	}
	if a.Fresh || relock {
		h, _ := lock.ReadHolder(s.Pair.Mirror)
		if l, lerr := lock.TryLock(s.Pair.Mirror, s.holder); lerr == nil {
			s.lock.Unlock()
			s.lock = l
		} else {
			err = fmt.Errorf("resynced, but cannot lock the new mirror (held by pid %d): %w", h.PID, lerr)
		}
	}
	return a, err
}

// ReleaseTarget lets go of a degraded mirror's file system, the lock on it included, so that the
// disk can be unmounted and repaired while the mount serves (see Mirror.ReleaseTarget). Resync takes
// the lock again.
func (s *Session) ReleaseTarget() bool {
	if !s.Mirror.ReleaseTarget() {
		return false
	}
	if s.Mirror.PrimaryLost() != nil {
		_ = s.attachedLock.Unlock() // the served directory keeps its lock
		s.attachedLock = nil
		return true
	}
	_ = s.lock.Unlock()
	return true
}
