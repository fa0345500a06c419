// Package engine describes what mirrorctl must know about a database engine's files: which files are
// write-ahead logs, which are databases, which are rebuilt by recovery (and so are never mirrored), and how
// to run the engine's recovery and checks on a directory.
//
// The rest of mirrorctl talks to an engine only through the Core interface (what every engine has:
// classify a path, remove regions, restart and verify a directory) and asks for what only some
// engines have through optional capability interfaces, type-asserted where used: RotatingLogs
// (sealing, retention, salvage, the log sequence), Catastrophic, Pending, Archiver (the hot-backup
// routine of sync), PointInTime. Nobody asks for an engine by name, so that the mirror core and the
// FUSE layer stay engine-agnostic. engine and its subpackages import nothing of mirrorctl's: it
// is a leaf.
//
// Subpackages: bdb is Berkeley DB; sqlite is SQLite; lmdb is LMDB (lmdb/mdb its cgo binding); each
// has the drill's workload of its engine in workload/; detect says which engine the files of a
// directory belong to.
package engine
