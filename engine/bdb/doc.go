// Package bdb is mirrorctl's knowledge of Berkeley DB environments: which files are logs
// (log.NNNNNNNNNN), databases and region files (__db.*, rebuilt by recovery), where DB_CONFIG puts the
// logs and data, and how to run the db_* utilities (db_recover, db_verify, db_archive, db_checkpoint,
// db_printlog) whatever the distribution names them.
//
// It implements engine.Engine and imports nothing of mirrorctl's but engine.
package bdb
