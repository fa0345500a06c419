// Command mirrorctl keeps a hot-failover mirror of a database environment on a second disk and
// promotes it at failover. See the README for the operator's guide.
//
// This package is wiring: it turns command lines into calls on the packages that do the work and
// turns their results into what the operator sees. main.go assembles the urfave/cli app; each
// command has one file with its flags beside it (mount.go, unmount.go, status.go, sync.go,
// verify.go, resync.go, promote.go, archive.go (archive push and list), archivepush.go (mount's
// --archive), restore.go, drill.go (drill_engine.go: its --engine), completion.go, and the hidden
// workload.go and workload_engines.go of the drill and the tests). Shared pieces have theirs:
// policy.go and engine.go (the pair, engine and mirroring policy every command starts from),
// engine_status.go (what status says of the engine), mountpoint.go (checks of a mount point), progress.go,
// logging.go, metrics.go, control.go (the mount's control socket), foreign.go (the mount's watch for
// writes behind its back) and sdnotify.go (systemd's readiness protocol).
//
// What it keeps:
//   - Exit statuses are the same for every command (main.go: 0 success, 1 failure, 2 usage, nothing
//     changed, 3 degraded), and a usage error is refused before anything is changed.
//   - Reports go to the app's Writer; progress and logs go to its ErrWriter (stderr), so that
//     stdout stays parseable, and --json prints only JSON.
//
// Where the database libraries are: the workloads of all three engines (Berkeley DB, SQLite, LMDB)
// and the SQLite and LMDB recovery of promote are linked into this one binary, so that the drill
// and the tests need nothing but it. None of the three keeps it from starting where the library is
// missing: SQLite is compiled in, LMDB is linked statically (liblmdb.a), libdb dynamically from a
// package every Debian system has (PAM depends on it); the static libdb-5.3.a measured a fifth of
// the drill's commits. A separate workload binary would remove no run-time dependency.
//
// What it must not do: hold logic of its own. Replication, sync and verify live in mirror, the
// FUSE layer in fusefs, promote in recovery, the hot-backup routine of sync in hotbackup, the
// failover rehearsal in drill, engine knowledge in engine; a command that grows steps of its own
// moves them into the package whose job they are and keeps only flags, display and printing.
package main
