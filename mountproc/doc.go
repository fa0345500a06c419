// Package mountproc runs `mirrorctl mount` as a child process: the drill's mount and the
// integration tests' mounts. It starts the child, waits until it serves, and stops or kills it.
//
// Invariants kept here:
//   - Start returns a Process only once the child printed that it serves and its mount point is in
//     the mount table; when the child exits first, or ctx ends, nothing is left running or mounted.
//   - The child runs in a process group of its own, so that what it starts ends with it and a
//     terminal's signals reach only the parent, which decides how the mount ends.
//   - After Stop, Kill followed by Detach, or a failed Start, no mount of the child is left at its
//     mount point, even a dead one (a killed FUSE server leaves its mount behind).
//
// It uses mirror (MountedAt, which reads the mount table without touching a dead mount) and
// nothing else of mirrorctl's; it prints nothing: the child's output is kept for the caller.
package mountproc
