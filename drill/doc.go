// Package drill rehearses a failover end to end on scratch storage, which is mirrorctl's main job
// shown in one run: make two disks, mount the primary with its mirror, run a Berkeley DB workload
// with synchronous commits through the mount while recording every acknowledged commit, kill the
// primary (its disk or its mount process), promote the mirror, check every recorded commit, and
// time a catastrophic recovery of the same mirror for comparison. Options.Workload drills SQLite or
// LMDB instead (engines.go: their workload and check): the same steps, without the comparison and
// without a machine loss, which need a log history only Berkeley DB keeps. The other faults of the campaign
// (package torture) are steps of the same drill: a full primary (ENOSPC) and a clean stop are
// promoted and checked the same way; a dead or full mirror must leave the application committing on
// the primary (the mount degrades), and is repaired, resynced, verified, and the commits checked on
// the primary.
//
// Invariants kept here:
//   - A commit counts as acknowledged only once the workload printed it, after its synchronous
//     commit returned; the record of acknowledged commits is durable before the check reads it.
//   - The primary dies under load: the workload is still committing when the fault comes.
//   - The comparison copy is taken from the mirror before promote touches it, so both recoveries
//     start from the same bytes; with KeepFailed so is the evidence copy.
//   - A clean stop leaves a pair that verifies; a mirror fault never fails the application, and
//     after resync the pair verifies.
//   - With KeepFailed, a drill that lost a commit or failed keeps its scratch directory (the
//     evidence to tell where a loss came from); otherwise nothing stays.
//   - Everything the drill made (disks, loop devices, mounts, processes, its scratch directory,
//     also inside a directory the caller named) is removed when Run returns, also when ctx ends,
//     but for the evidence KeepFailed keeps; what was in the caller's directory before is never
//     touched.
//
// With Lose "machine" the drill runs an object store (versitygw, package internal/versitygw) over a
// directory on neither disk, mounts with --archive to it, kills the mount process and both disks at
// once under load, restores the archive onto a fresh directory and checks every acknowledged commit
// there; it counts the commits acknowledged after the archive's last push began (read from the
// mount's status just before the loss), and only a loss above that count fails the drill. Without
// versitygw it fails before making anything, in one line that names make versitygw.
//
// The mount, the workload, promote and the check run as child processes of the mirrorctl binary
// (Options.Binary): a process that serves a FUSE mount must not also use it. It uses engine,
// recovery (the promote report), mountproc, loopdisk, progress and internal/versitygw; it prints nothing itself: lines
// go to Options.Say, progress to Options.Progress.
package drill
