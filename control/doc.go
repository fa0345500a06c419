// Package control is the mount process's control socket: a small HTTP API on a Unix socket that
// answers `mirrorctl status` (GET /status) and runs `mirrorctl resync` (POST /resync), and the
// client side that finds the socket of a mount point and asks it.
//
// Invariants kept here:
//   - Only root and the mount's owner (the user the mount process runs as) are answered. Two
//     independent checks: the socket is mode 0600, owned by the mount's owner, from the moment it
//     has its name (it is created under a temporary name, chmod'ed, then renamed); and every
//     request is checked against the peer's credentials (SO_PEERCRED, read once per connection
//     when it is accepted), so a socket whose mode was widened still answers nobody else. Others
//     get nothing: not the status, not the paths (the info file is 0600 too).
//   - A mount's socket is found wherever its mount process put it: the caller's own runtime
//     directory, root's /run/mirrorctl, and the conventional runtime directories of the user the
//     kernel's mount table names as the mount's owner. A directory is trusted only when it is
//     owned by the user it belongs to and writable by nobody else, so another user cannot plant a
//     socket that answers for a mount.
//   - A socket that exists but refuses the caller is reported as such (DeniedError, naming the
//     owner), never as "no mount serves"; so is a mirrorctl mount that the mount table says another
//     user runs, when the caller cannot see its socket (a user's runtime directory is 0700).
//
// It reads the kernel's mount table (github.com/moby/sys/mountinfo, as package host does) and uses
// of mirrorctl's only packages meta (one-line file-system errors) and host (the mount type's name); it
// prints nothing.
package control
