// Package bdb is mirrorctl's knowledge of Berkeley DB environments: which files are logs
// (log.NNNNNNNNNN), databases and region files (__db.*, rebuilt by recovery), where DB_CONFIG puts the
// logs and data, and how to run the db_* utilities (db_recover, db_verify, db_archive, db_checkpoint,
// db_printlog) whatever the distribution names them.
//
// Invariants kept here:
//   - A log file is exactly what the library writes: "log." and ten decimal digits, not zero
//     (ParseLogName and FormatLogName round-trip); a name that merely looks like one is not a log,
//     so it is never taken for part of the log sequence nor retired as one.
//   - Region files (__db.*) are classified as such and only RemoveRegions deletes them: they are
//     rebuilt by recovery and never mirrored. RemoveRegions touches nothing else.
//   - Logs are found where DB_CONFIG's set_lg_dir puts them and are returned in log-number order;
//     paths are always relative to the environment directory.
//   - Reading a tail (where normal recovery starts) prints only the newest log files, newest first,
//     so its cost does not grow with the log history; when no checkpoint is found there, recovery
//     is said to start at the first log (the safe answer: keep everything). It only reads: db_printlog
//     runs in a private home holding links to those log files, never with the environment as its
//     home, where it would join and rewrite the region files (__db.*).
//   - Every other utility runs with the caller's context and the environment as its home (-h); a failure
//     carries the utility, its arguments and the last lines it printed. With the utilities missing,
//     every operation that needs them fails with the same error that Available returns.
//   - Point-in-time recovery (db_recover -c -t) is handed the moment in the local time zone, to the
//     second, as db_recover reads it (FormatRecoverTime); the last commit of an environment is the
//     timestamp of its last __txn_regop record with opcode 1, read in a private home as tail does.
//
// It implements engine.Engine (and engine.Archiver, engine.PointInTime) and imports nothing of
// mirrorctl's but engine.
package bdb
