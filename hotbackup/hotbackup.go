package hotbackup

import (
	"context"
	"fmt"
	"time"

	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/meta"
	"github.com/mirrorctl/mirrorctl/mirror"
)

// Options are the optional steps of the routine.
type Options struct {
	Checkpoint      bool   // force a checkpoint first, then copy the database files again
	KeepPrimaryLogs bool   // copy the inactive logs instead of moving them off the primary
	Recover         bool   // run catastrophic recovery on the mirror, so that it is ready to open
	Archive         string // then copy the mirror to this directory ("": none)
	// Step, if set, is called with the name of each step as it begins (for the caller's progress).
	Step func(name string)
}

// Report is what the routine did.
type Report struct {
	Checkpoint   bool
	Copied       int   // files copied by the routine (database files again after a checkpoint, logs)
	BytesCopied  int64 // bytes written by those copies
	LogsCopied   int
	LogsMoved    int
	Recovered    bool
	RecoveryTime time.Duration
	Archive      string
}

// SkipLogs leaves the log files out of the tree copy that starts the routine: they are copied after
// the database files, in their own step.
func SkipLogs(eng engine.Engine) func(string) bool {
	return func(rel string) bool { _, ok := eng.LogNumber(rel); return ok }
}

// Run performs the steps of the routine that come after the session copied the database files
// (started with Skip: SkipLogs(eng)): checkpoint, logs, retirement of the inactive logs, recovery,
// the mirror's record, archive.
func Run(ctx context.Context, s *mirror.Session, eng engine.Engine, a engine.Archiver, o Options) (Report, error) {
	var rep Report
	step := o.Step
	if step == nil {
		step = func(string) {}
	}
	primary, target := s.Pair.Primary, s.Pair.Mirror
	// The checkpoint comes first in the manual routine; here the database files were just copied by
	// Start, so a checkpoint now would make them older than the log says: take it before the logs,
	// and copy the database files again (only what changed) after it.
	if o.Checkpoint {
		step("checkpoint, then the database files again")
		if err := a.Checkpoint(ctx, primary); err != nil {
			return rep, err
		}
		rep.Checkpoint = true
		r, err := s.Sync(ctx, mirror.SyncOptions{Skip: SkipLogs(eng)})
		if err != nil {
			return rep, err
		}
		rep.BytesCopied += r.BytesCopied
		rep.Copied += r.Copied
	}
	step("copying the log files")
	if err := copyLogs(ctx, s, eng, a, o.KeepPrimaryLogs, &rep); err != nil {
		return rep, err
	}
	needsRecovery := true
	if o.Recover {
		step("catastrophic recovery of the mirror")
		if _, err := eng.RemoveRegions(target); err != nil {
			return rep, err
		}
		rr, err := eng.Recover(ctx, target, true)
		if err != nil {
			return rep, fmt.Errorf("catastrophic recovery of the mirror: %w", err)
		}
		rep.Recovered, rep.RecoveryTime = true, rr.Duration
		needsRecovery = false
	}
	// Through the session's record owner: a WriteRecord here would be undone by the session's Stop.
	if err := s.UpdateRecord(func(rec *meta.Record) { rec.NeedsRecovery = needsRecovery }); err != nil {
		return rep, err
	}
	if o.Archive != "" {
		step("copying the mirror to " + o.Archive)
		// Checked again here for callers that did not check before the session started (the CLI
		// does, so that a refusal writes nothing).
		dir, err := CheckArchive(o.Archive, s.Pair)
		if err != nil {
			return rep, err
		}
		if err := archiveTo(ctx, target, dir, s.Identity, s.Pair.Primary); err != nil {
			return rep, fmt.Errorf("archive to %s: %w", o.Archive, err)
		}
		rep.Archive = o.Archive
	}
	return rep, nil
}

// copyLogs copies every log file, then (unless keep) moves the inactive ones off the primary. The
// inactive list is taken before the copy, so that no log retired here is one the copy missed.
func copyLogs(ctx context.Context, s *mirror.Session, eng engine.Engine, a engine.Archiver, keep bool, rep *Report) error {
	primary := s.Pair.Primary
	inactive, err := a.InactiveLogs(ctx, primary)
	if err != nil {
		return err
	}
	logs, err := eng.Logs(primary)
	if err != nil {
		return err
	}
	rels := make([]string, 0, len(logs))
	for _, l := range logs {
		rels = append(rels, l.Rel)
	}
	r, err := s.SyncPaths(ctx, rels, true)
	if err != nil {
		return fmt.Errorf("copy the log files: %w", err)
	}
	rep.LogsCopied = r.Copied
	rep.BytesCopied += r.BytesCopied
	rep.Copied += r.Copied
	if keep {
		return nil
	}
	for _, rel := range inactive {
		if err := s.RetireLog(rel); err != nil {
			return fmt.Errorf("move inactive log %s to the mirror: %w", rel, err)
		}
		rep.LogsMoved++
	}
	return nil
}
