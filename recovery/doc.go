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
// It uses engine (through the engine.Engine interface), mirror (the metadata), lock (the mirror's
// lock) and host (mounts and processes), nothing else.
package recovery
