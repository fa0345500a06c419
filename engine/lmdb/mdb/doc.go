// Package mdb is the little of LMDB's C library (liblmdb, by cgo) that mirrorctl uses: open an
// environment, run a transaction, put and get, walk a database with a cursor, list the named
// databases. It is linked statically from Debian's liblmdb-dev (liblmdb.a), so that a mirrorctl binary
// starts on a machine without liblmdb installed.
//
// Invariants:
//   - Every environment is opened with MDB_NOTLS, so a read-only transaction is not tied to the OS
//     thread that began it; a write transaction is (LMDB's writer mutex belongs to a thread): Begin
//     locks the goroutine to its thread until Commit or Abort.
//   - No Go pointer is handed to C beyond the call: keys and values are copied in by the C side
//     (mdb_put copies them), and what Get returns is copied out of the map before the call returns.
//
// It imports nothing of mirrorctl's.
package mdb
