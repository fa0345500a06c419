// Package workload is a real LMDB workload (the LMDB library, through package mdb), used by the
// drill and the tests to write an environment through a mount: each transaction puts one key in two
// named databases and commits with LMDB's default durability (the data synced, then the meta page),
// with MDB_WRITEMAP (commits are writes to a shared map, then msync) or without (pwrite, then
// fdatasync).
//
// Invariants:
//   - A key is written out (acknowledged) only after its commit returned: the ledger of
//     acknowledged commits is the printed keys.
//   - Check writes nothing: it opens the environment read-only, without a lock file.
//
// It runs in a process of its own: a process that serves a FUSE mount must not also use it, and a
// process whose map is on a mount that dies gets SIGBUS on its next read of an uncached page.
package workload
