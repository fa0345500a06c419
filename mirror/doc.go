// Package mirror is mirrorctl's replication core: it applies every change to the primary directory and
// then to the mirror directory, in order, and makes changes durable on both when asked.
//
// Invariants kept here:
//   - A change reaches the mirror only after the primary applied it successfully, and before the
//     operation returns: so the mirror always holds an ordered prefix of the primary's changes, and a
//     change that the primary refused never reaches the mirror.
//   - Sync (fsync, fdatasync, directory fsync) returns success only when the data, and the directory
//     entries created or renamed before it, are durable on both sides; or, with the degrade policy,
//     when the primary is durable and the mirror has been marked degraded durably.
//   - Nothing is ever written outside the two trees: every path is resolved beneath its root, and a
//     symbolic link cannot lead out.
//   - The metadata area (meta.Dir) of each tree is never mirrored, listed or compared.
//
// The package knows nothing of FUSE and nothing of the database engine: callers hand it a Policy that
// says which paths are mirrored. Sync, Verify and the FUSE layer all work through it.
package mirror
