// Package s3server starts a real S3-compatible server for tests: versitygw serving a POSIX directory
// on a loopback port, with its root access keys in its environment, and a bucket created in it.
//
// Invariants kept here:
//   - The server is a separate process that the test starts and t.Cleanup kills and waits for, even
//     when the test fails: no server outlives its test.
//   - Start returns only once the server answers an S3 request (a bucket listing) with the test's
//     keys; a server that never answers fails the test with what it printed.
//   - The objects are plain files under Dir/Bucket, so that a test can corrupt one in place.
//
// Only tests import this package; the process itself is package internal/versitygw's (the drill
// runs one too), which finds the binary in $MIRRORCTL_VERSITYGW, the module's bin/ (where make
// installs it), $GOBIN or $GOPATH/bin, then $PATH; without it the test skips (or fails under
// MIRRORCTL_REQUIRE_ALL=1) saying "make versitygw" installs it.
package s3server
