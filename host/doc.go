// Package host says what the running system knows of mounts, processes and the boot: facts that
// mirrorctl reads from the kernel rather than keeps itself.
//
// Invariants kept here:
//   - Whether a directory is a mount point comes from the kernel's mount table, never from a stat of
//     the directory: a dead FUSE mount fails a stat with ENOTCONN (or hangs it), and it is exactly such
//     a mount that unmount, status and promote must recognise.
//   - A question the host cannot answer (no /proc, a process gone) gets the harmless answer: not
//     mounted, not alive, no boot id. Nothing here changes the system.
//
// It uses nothing of mirrorctl's.
package host
