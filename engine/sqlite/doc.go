// Package sqlite is SQLite as an engine: which files of a directory are SQLite's, and how promote
// brings each database to a consistent state with the SQLite library itself (mattn/go-sqlite3, which
// bundles libsqlite3 and links it by cgo).
//
// Files: a database is any regular file that starts with SQLite's 16-byte header ("SQLite format
// 3\0"), whatever its name; NAME-wal and NAME-journal are its write-ahead log and rollback journal
// (mirrored in order, classed as logs, never kept after the primary removes them: a stale journal
// beside a database would be replayed into it); NAME-shm is the WAL index, rebuilt by SQLite from the
// WAL, so it is a region: served, never mirrored, removed before recovery.
//
// Invariants:
//   - Restart opens every database with the library, which rolls hot journals back and recovers
//     WALs as any crash restart would; it then runs PRAGMA integrity_check and
//     PRAGMA wal_checkpoint(TRUNCATE), so that the database file alone holds every commit.
//     Databases are restarted in parallel, each on one connection of its own.
//   - SQLite keeps no log history: there is no catastrophic recovery, no point-in-time restore and
//     no log tail to salvage. The engine implements only engine.Core and engine.DatabaseLister.
//
// It imports nothing of mirrorctl's but package engine.
package sqlite
