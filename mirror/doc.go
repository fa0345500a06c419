// Package mirror is mirrorctl's replication core: it applies every change to the primary directory and
// then to the mirror directory, in order, and makes changes durable on both when asked.
//
// Invariants kept here:
//   - A change reaches the mirror only after the primary applied it successfully, and before the
//     operation returns: so the mirror always holds an ordered prefix of the primary's changes, and a
//     change that the primary refused never reaches the mirror. The one exception is a large write
//     (File.writeBoth), given to both sides at once: what the primary refused of it is undone on the
//     mirror before the operation returns. Only a crash inside that window, or a primary too broken
//     to read its bytes back, can leave the mirror with bytes of a write that was never acknowledged
//     (as a torn write would); after a crash the file is one the intent record names, which the next
//     start compares by content.
//   - Sync (fsync, fdatasync, directory fsync) returns success only when the data, and the directory
//     entries created or renamed before it, are durable on both sides; or, with the degrade policy,
//     when the primary is durable and the mirror has been marked degraded durably.
//   - Nothing is ever written outside the two trees: every path is resolved beneath its root, and a
//     symbolic link cannot lead out.
//   - Depth is no limit: paths are resolved from directory descriptors, in steps shorter than
//     PATH_MAX, so an entry whose path from the root is longer than PATH_MAX (which an application
//     reaches relative to its current directory) works on both sides as on the kernel's own file
//     systems. No full path string is ever handed to a system call.
//   - The metadata area (meta.Dir) of each tree is never mirrored, listed or compared.
//   - With PrimaryFailover, a primary whose disk proves gone is replaced by a whole mirror while the
//     mount serves, with no operation between its two halves at the switch, and the switch recorded
//     on the mirror before anything runs there (failover.go).
//   - With RebuiltDir, the engine's rebuilt files are served from that directory alone, never from
//     the primary (rebuilt.go).
//   - Sparse files stay sparse: Sync, resync and Verify walk files by their extents (sparse.go), so a
//     hole on the primary is neither read nor written and is a hole on the mirror after a copy.
//   - A mirrored inode stays mirrored under every name, and an excluded one excluded: whether a write
//     reaches the mirror is decided by the name it comes through, so a link, or a rename of what has
//     other hard links, that would give one inode names on both sides of the Policy is refused with
//     EXDEV, as between two file systems (ln reports it, mv falls back to a copy, which gives the new
//     name an inode of its own). Mirroring the other name instead would put an excluded name on the
//     mirror, which Sync and Verify, working by name, would then call a difference. A rename of a
//     directory that would move an entry below it between mirrored and excluded (a glob with a
//     slash) is refused the same way.
//
// The package knows nothing of FUSE and nothing of the database engine: callers hand it a Policy that
// says which paths are mirrored. Sync, Verify and the FUSE layer all work through it.
package mirror
