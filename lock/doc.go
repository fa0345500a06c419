// Package lock is the exclusive claim on a mirror directory and on a primary directory: one mirrorctl
// process at a time (a mount serving it, a sync or a promote working on it) holds each, and the others
// are told who does.
//
// Invariants kept here:
//   - A lock is an flock on a file in the directory's metadata area ("lock" for the tree as a mirror,
//     "primary.lock" for it as a primary): it goes with the descriptor, so a process that dies, even
//     by SIGKILL, leaves no stale lock.
//   - TryLock and TryLockPrimary never wait: they take the lock or return a *LockedError (which is
//     ErrLocked) naming the holder as the lock file describes it.
//   - One primary has one mount: whatever writes a primary through mirrorctl holds its primary lock
//     for its whole run, so a second mount of the same primary, with another mirror, is refused.
//   - The lock file names its holder (a Holder, as JSON). Unlock empties it; a holder that died
//     stays named, which is how status and promote find what a killed mount left behind.
//   - Undo puts the tree back as TryLock found it, for a refusal that comes right after the lock.
//
// It uses only package meta (the metadata area's name), so that the mirror package, recovery and the
// CLI can all use it.
package lock
