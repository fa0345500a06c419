// Package meta reads and writes what mirrorctl keeps about a tree in the tree's metadata area (Dir,
// ".mirrorctl" at its top): the identity of an environment (identity.json), the record of a mirror
// (mirror.json) and the degraded marker kept on the primary's side (degraded.json).
//
// Invariants kept here:
//   - Every file is replaced atomically and durably (WriteFileDurable): written to a temporary file,
//     fsynced, renamed over the old one, and the directory fsynced. A reader sees the old content or
//     the new, also after a crash.
//   - A file that cannot be parsed is reported as ErrCorruptMeta with its path and the fix; it is
//     never taken for an empty one. A record is used only if all of it is understood: one of a newer
//     format version is refused (ErrNewerMeta: upgrade), one in an unknown state is corrupt.
//   - The package writes only inside Dir, and only when asked: reading never writes.
//
// It uses nothing of mirrorctl's. While a mount serves a mirror, the mirror package is the only
// writer of that mirror's record (its record keeper serialises every change); others write a record
// only while they hold the mirror's lock with no Mirror open on it.
package meta
