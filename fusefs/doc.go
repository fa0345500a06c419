// Package fusefs serves a primary directory through FUSE and turns every kernel request that changes
// something into a call on the mirror core (package mirror). It holds no replication logic of its own:
// reads are served by go-fuse's loopback from the primary, and changes go through mirror.Mirror, which
// applies them to the primary and then to the mirror.
//
// Invariants kept here:
//   - No change to a mirrored file can bypass the daemon: handles of mirrored files opened for writing
//     never offer kernel passthrough (FilePassthroughFder), copy_file_range answers ENOSYS so the
//     kernel falls back to reads and writes through the mount, O_TMPFILE is refused, and the
//     writeback cache stays off. Only with Options.PassthroughReads do read-only opens offer
//     passthrough, under the per-inode rules of iomode.go.
//   - Files that are not mirrored (the engine's region files) use go-fuse's LoopbackFile, which may use
//     passthrough: they are served at native speed and never reach the mirror.
//   - The metadata area (meta.Dir) at the root is invisible and unwritable through the mount.
//   - No request handles a full path string to a system call: lookups, attributes, listings, link
//     and xattr reads and opens resolve through the mirror core from directory descriptors, so an
//     entry deeper than PATH_MAX below the primary's root is served like any other.
//   - Modes are shown as they are (go-fuse's NullPermissions): a file of mode 0000 shows 0000.
//   - Errors cross into the kernel once, as errnos, through toErrno.
package fusefs
