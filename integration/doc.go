// Package integration holds mirrorctl's end-to-end tests: the real binary, real FUSE mounts, real
// Berkeley DB, and real file systems on loop devices where a disk must fail.
//
// The tests need root and /dev/fuse. Where those are missing they skip and say why; with
// MIRRORCTL_REQUIRE_ALL=1 (set by .ci/run) every such skip is a failure instead. Every test removes the
// mounts, loop devices and processes it made, also when it fails.
package integration
