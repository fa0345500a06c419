// Package versitygw runs versitygw, an S3-compatible server over a POSIX directory, as a child
// process on a loopback port: what the tests (through internal/s3server) and the drill's
// --lose machine use as a real object store.
//
// Invariants kept here:
//   - Start returns only once the server answers a bucket listing with the given keys, or an error
//     with what the server printed; a server that exited or never answered is not left running.
//   - Stop kills the process and waits for it: no server outlives its Process.
//   - Find looks in $MIRRORCTL_VERSITYGW, bin/ of the module around the working directory (where
//     make versitygw installs it), $GOBIN, $GOPATH/bin (default ~/go/bin), then $PATH; without it,
//     ErrNotInstalled, whose message names make versitygw.
//
// It prints nothing; it knows nothing of archives or tests.
package versitygw
