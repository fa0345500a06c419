// Package lock is the exclusive claim on a mirror directory: one mirrorctl process at a time (a
// mount serving it, a sync or a promote working on it) holds it, and the others are told who does.
//
// Invariants kept here:
//   - The lock is an flock on a file in the directory's metadata area: it goes with the descriptor,
//     so a process that dies, even by SIGKILL, leaves no stale lock.
//   - TryLock never waits: it takes the lock or returns a *LockedError (which is ErrLocked) naming
//     the holder as the lock file describes it.
//   - The lock file names its holder (a Holder, as JSON). Unlock empties it; a holder that died
//     stays named, which is how status and promote find what a killed mount left behind.
//
// It uses only package meta (the metadata area's name), so that the mirror package, recovery and the
// CLI can all use it.
package lock
