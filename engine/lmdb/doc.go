// Package lmdb is LMDB as an engine: which files of a directory are LMDB's, and how promote brings
// each environment to use with the LMDB library itself (liblmdb, linked statically by cgo through
// package mdb).
//
// Files: an environment is a directory holding data.mdb (the B+trees and two meta pages) and
// lock.mdb (the reader table and the writer mutex). data.mdb is a database: mirrored, its pwrite
// writes and, with MDB_WRITEMAP, its shared-map writes, in order, with their fdatasync and msync;
// with MDB_WRITEMAP it is a sparse file as large as the map, and stays sparse on the mirror.
// lock.mdb describes the processes of the old primary and LMDB rebuilds it when the first process
// opens the environment: it is a region, served but never mirrored, removed before promote opens the
// environment. A directory tree may hold several environments (one per tenant): each directory
// with a data.mdb is one.
//
// Invariants:
//   - LMDB has no log to replay: a commit is durable once its data pages are synced and the meta
//     page that points at them is written and synced, and opening the environment takes the meta
//     page with the newer transaction id. So Restart is the library's open (read-write, as the
//     application's first open after a crash) followed by a read of everything: a cursor walk of the
//     main database and of every named database, every key and value byte, in one read
//     transaction. A tree that points at a page it cannot read fails the walk, and promote.
//   - LMDB keeps no log history: there is no catastrophic recovery, no point-in-time restore, no log
//     tail to salvage and nothing for a restart to replay. The engine implements only engine.Core
//     and engine.DatabaseLister.
//   - Verify opens each environment read-only without a lock file (MDB_RDONLY|MDB_NOLOCK): it
//     writes nothing.
//
// It imports nothing of mirrorctl's but package engine.
package lmdb
