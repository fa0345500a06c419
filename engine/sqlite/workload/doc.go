// Package workload is a real SQLite workload (the SQLite library, mattn/go-sqlite3), used by the
// drill to write databases through a mount: each transaction inserts one row into a WAL database and
// into a rollback-journal database, both synchronous=FULL, so that both journal modes are drilled.
//
// Invariants:
//   - A key is written out (acknowledged) only after both commits returned.
//   - Check writes nothing: it opens the databases read-only (after promote they hold every commit
//     in the database file alone).
//
// It runs in a process of its own: a process that serves a FUSE mount must not also use it.
package workload
