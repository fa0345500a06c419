// Command bench measures mirrorctl side by side with a native directory, go-fuse's plain loopback
// (with and without kernel passthrough) and, where it can be made, btrfs raid1 over two loop devices,
// and against the physical limit of the disks themselves.
//
// Every workload runs in two regimes: primary and mirror on two loop-backed xfs file systems on the
// host disk, and on two loop-backed xfs file systems on files in /dev/shm, where fsync is nearly free
// and the software path is all that counts. The physical limit is `bench fsyncprobe`: 256 B appends,
// each fdatasynced; batches of 32 writes of 1 MiB with one fdatasync; and small files created,
// written, fsynced with their directory and removed; each on the primary's disk alone and on both
// disks with the two sides issued in parallel on two OS threads. The ideal mirror of a commit
// workload, of 1 MiB sequential writes and of the small-file loop is native × (both ÷ one) of its
// probe.
//
// Invariants kept here:
//   - A ratio compares figures of the same round: in each round and regime every configuration is
//     mounted at once and each workload runs on each in turn, so the two figures are seconds apart.
//     Ratios are taken round by round and then summarised as median (min–max), like the figures.
//   - Everything it makes (loop devices, mounts, mount processes, the versitygw server, scratch
//     files) is removed at exit, also after an error or a signal.
//
// The archive's benchmarks (-archive, archive.go) start a versitygw on loopback (make versitygw; without
// it they are skipped with one line) and measure 256 B one-thread commits through a mount without and
// with --archive, and `mirrorctl restore` from the archive and from the local mirror against the
// environment's size (-archive-sizes), on the first regime's disks.
//
// It prints the tables and writes bench/results.md and bench/results.svg. Run it with `make bench`
// as root: it makes loop-backed xfs file systems and mounts.
package main
