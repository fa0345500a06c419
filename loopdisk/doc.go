// Package loopdisk makes scratch disks: small xfs file systems on loop devices, which the drill and
// the integration tests can kill for real (xfs shutdown: every later access fails with EIO), fill,
// replace or mount again.
//
// Invariants kept here:
//   - A Disk that New returns is mounted at Dir; when New fails, nothing it made is left (no loop
//     device, no mount).
//   - Remove leaves no mount at Dir and no loop device, even after Shutdown.
//
// It needs root and losetup, mkfs.xfs, xfs_io and mount (Available says which is missing). It uses
// mirror (MountedAt, which reads the mount table without touching a dead file system), nothing else.
package loopdisk
