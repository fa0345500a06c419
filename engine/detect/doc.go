// Package detect says which database engine the files of a directory belong to: Berkeley DB,
// SQLite, LMDB, or none (no file of any engine yet). It only reads: names, and the first bytes of
// regular files.
//
// Invariants kept here:
//   - A file counts for an engine by what it is, never by a guess from an extension: SQLite's
//     16-byte header ("SQLite format 3\x00"), LMDB's data.mdb and lock.mdb, Berkeley DB's DB_CONFIG,
//     log files (log.NNNNNNNNNN, as bdb.ParseLogName reads them), region files (__db.*), or the magic
//     number of a Berkeley DB database's metadata page (btree, hash, queue, heap; either byte
//     order). Any other file (an empty file, an application's own) counts for none.
//   - SQLite's -journal, -wal and -shm count for SQLite only beside a database of the same name
//     that does: they carry no header of their own.
//   - A directory whose files belong to more than one engine is refused with a MixedError that names
//     the files of each; there is no majority vote.
//   - mirrorctl's metadata directory (.mirrorctl at the top) is never looked at, nor what the
//     caller's skip names (what the mirror leaves out).
//   - Depth is no limit: directories and files are opened relative to their parent's descriptor,
//     never by a full path, so a tree deeper than PATH_MAX is walked like any other.
//
// It imports nothing of mirrorctl's but engine/bdb, for the names of Berkeley DB's files.
package detect
