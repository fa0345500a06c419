// Package recovery turns a mirror into the production environment at failover: it salvages the log
// tail that a still-readable primary has and the mirror lacks, removes the region files, runs the
// engine's normal recovery (replaying only the tail since the last checkpoint), checks the result,
// and marks the mirror promoted with a new generation so that a stale copy cannot overwrite it.
//
// Invariants kept here:
//   - Nothing is changed before every check passed: a refused promote leaves the mirror as it was.
//   - Salvaged log data is taken only from the same environment (identity match) and only when it
//     continues the mirror's log without a gap and agrees with the bytes the mirror already has.
//   - If normal recovery fails, promote says so and stops; it never falls back to another recovery
//     on its own.
//   - A dry run works on a throwaway copy-on-write view (overlayfs) and never writes to the mirror.
//
// What it needs of the other packages, and nothing more:
//   - engine, through the engine.Core interface (region files, restart, verification) and the
//     capabilities asked of it where they apply: engine.RotatingLogs (salvage, the log sequence),
//     engine.Catastrophic (--catastrophic), engine.DatabaseLister (a mirror with no database is
//     refused). Promote never asks for an engine by name;
//   - meta: the metadata of the mirror and of the old primary: the record, the identity, the degraded
//     mark, and SyncDir, to make a salvaged log file's directory entry durable;
//   - lock: the mirror's lock, taken for the whole promotion;
//   - host: whether the mount process is alive and its mount point still mounted.
//
// It does not import package mirror at all.
//
// It never goes through a Mirror or a mount: promote holds the mirror's lock, so no mount serves the
// mirror, and salvaged log data is written to the mirror directory directly and fsynced.
package recovery
