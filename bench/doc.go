// Command bench measures mirrorctl side by side with a native directory, go-fuse's plain loopback
// (with and without kernel passthrough) and, where it can be made, btrfs raid1 over two loop devices.
// Configurations run interleaved, round after round, on the same machine, so that the figures are
// ratios taken under the same conditions; it prints a table of medians (min–max) and ratios to
// native, and writes bench/results.md and bench/results.svg.
//
// Run it with `make bench` as root: it makes loop-backed xfs file systems and mounts.
package main
