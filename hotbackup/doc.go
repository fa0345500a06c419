// Package hotbackup is the manual hot-failover routine of a running database environment that is
// not mounted through mirrorctl: the steps that make a consistent copy while the application keeps
// writing, done on a mirror session that has just copied the database files.
//
// Invariants kept here:
//   - The steps run in this order, and the order is what keeps the copy consistent: (checkpoint,
//     then the database files again) → the database files → every log file → retire the inactive
//     logs from the primary → (catastrophic recovery) → the mirror's record → (archive). A log is
//     copied only after every database page it may describe, and an inactive log leaves the primary
//     only once its copy on the mirror is durable.
//   - The database files come without the logs: the session is started with Skip: SkipLogs(eng), so
//     a log is never copied before the database files it covers.
//   - The mirror's record says NeedsRecovery unless catastrophic recovery ran on the mirror and
//     succeeded: a copy of a running environment is never taken for one that opens as it is.
//   - The archive is a copy of the mirror after its record was written, never of the primary.
//   - The archive is written only where mirrorctl may write (CheckArchive): outside both trees, new,
//     empty or an earlier archive of the same environment (its record, meta.Dir/archive.json, names
//     the primary's identity), and a re-run removes only the paths that record says mirrorctl wrote.
//
// It uses engine (the engine.Archiver of a running environment) and mirror (the session, the
// record); it prints nothing: the caller sees each step's name through Options.Step.
package hotbackup
