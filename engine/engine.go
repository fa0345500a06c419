package engine

import (
	"context"
	"fmt"
	"time"
)

// Class says what role a file plays in a database environment.
type Class int

const (
	// ClassOther is any file the engine does not know; it is mirrored like data.
	ClassOther Class = iota
	// ClassDatabase is a database file.
	ClassDatabase
	// ClassLog is a write-ahead log file (appended, rotated, removed when inactive).
	ClassLog
	// ClassRegion is a shared-memory region or other file that recovery rebuilds; never mirrored.
	ClassRegion
	// ClassConfig is the environment's configuration file (Berkeley DB's DB_CONFIG).
	ClassConfig
)

func (c Class) String() string {
	switch c {
	case ClassDatabase:
		return "database"
	case ClassLog:
		return "log"
	case ClassRegion:
		return "region"
	case ClassConfig:
		return "config"
	default:
		return "other"
	}
}

// LogFile is one write-ahead log file of an environment.
type LogFile struct {
	Rel    string // path relative to the environment directory
	Number uint32 // sequence number (Berkeley DB: the NNNNNNNNNN of log.NNNNNNNNNN)
	Size   int64
}

// RecoveryReport is what a run of the engine's recovery tells.
type RecoveryReport struct {
	Catastrophic bool          `json:"catastrophic"`
	Duration     time.Duration `json:"duration_ns"`
	// FirstLog and LastLog are the log file numbers recovery read from and up to (0 when unknown).
	FirstLog uint32 `json:"first_log"`
	LastLog  uint32 `json:"last_log"`
	// LastLSN is the engine's last valid log position after recovery, as text (e.g. "3/1048000").
	LastLSN string `json:"last_lsn,omitempty"`
	// Output is the utility's combined output, for the operator when something fails.
	Output string `json:"-"`
	// Databases is what a restart did to each database, for engines that recover database by
	// database (SQLite); empty for the others.
	Databases []DatabaseRecovery `json:"databases,omitempty"`
}

// DatabaseRecovery is the restart of one database file.
type DatabaseRecovery struct {
	File string `json:"file"` // relative to the environment directory
	// Pages is the database's size in pages after the restart.
	Pages int64 `json:"pages"`
	// FramesReplayed is how many WAL frames the restart checkpointed into the database (0: no WAL).
	FramesReplayed int64 `json:"wal_frames_replayed"`
	// HotJournal says a rollback journal was rolled back.
	HotJournal bool `json:"hot_journal_rolled_back,omitempty"`
	// InertJournalRemoved says a journal the library did not take for hot was left beside the
	// checked database, and removed.
	InertJournalRemoved bool `json:"inert_journal_removed,omitempty"`
	// For an environment of named databases (LMDB; File is its data file): PageSize, Entries (of
	// every database, read through), SubDatabases (the named ones) and TxnID (the last committed
	// transaction: the meta page that won).
	PageSize     int64         `json:"page_size,omitempty"`
	Entries      int64         `json:"entries,omitempty"`
	SubDatabases int           `json:"sub_databases,omitempty"`
	TxnID        int64         `json:"txn_id,omitempty"`
	Duration     time.Duration `json:"duration_ns"`
}

// Core is what every engine has, and all that the mirror's core and promote need of one. Paths
// handed to it are absolute directories; rel paths are slash-separated and relative to the
// environment directory. What only some engines have is an optional capability below (RotatingLogs,
// Catastrophic, Pending, Archiver, PointInTime): callers type-assert for the capability they need,
// never for an engine by name.
type Core interface {
	Name() string
	// Available checks that the engine's utilities or library are usable, with an error that says
	// how to install them or point at them.
	Available() error
	// Classify says what a file is from its path relative to the environment directory.
	Classify(rel string) Class
	// RemoveRegions deletes the files of envDir that recovery rebuilds and returns their names.
	RemoveRegions(envDir string) ([]string, error)
	// Restart recovers envDir as the engine does when it opens an environment after a crash
	// (Berkeley DB: normal recovery from the last checkpoint; SQLite: hot journals rolled back, WALs
	// replayed and checkpointed), leaving it consistent and ready to open.
	Restart(ctx context.Context, envDir string) (RecoveryReport, error)
	// Verify checks every database file of envDir and returns an error naming the first that fails.
	Verify(ctx context.Context, envDir string) error
}

// Staged is implemented by engines that create some files under a region's kind of name and then
// rename them into databases (Berkeley DB creates a database as __db.TXNID.RANDOM): such a file is
// rebuilt-named while it is written, but it is no region, and must live where the databases live.
type Staged interface {
	// IsStaged says whether a base name is such a file.
	IsStaged(base string) bool
}

// RotatingLogs is implemented by engines whose write-ahead log is a numbered sequence of files,
// each complete once the next is created, that recovery reads as a history (Berkeley DB). The
// mirror seals each complete log, retains logs the primary removes, and promote salvages the tail
// of a readable old primary and checks the sequence for gaps.
type RotatingLogs interface {
	// Logs lists the environment's log files in sequence order.
	Logs(envDir string) ([]LogFile, error)
	// LogNumber says whether rel is a log file and gives its sequence number (name-based, no I/O).
	LogNumber(rel string) (uint32, bool)
	// Tail says where the last checkpoint of envDir is and where normal recovery will start reading,
	// found cheaply, without reading the whole log history.
	Tail(ctx context.Context, envDir string) (Tail, error)
}

// Catastrophic is implemented by engines that can rebuild an environment from its whole log
// history (Berkeley DB's db_recover -c), not only from the last checkpoint.
type Catastrophic interface {
	// Recover runs the engine's recovery on envDir: normal (from the last checkpoint) or catastrophic.
	Recover(ctx context.Context, envDir string, catastrophic bool) (RecoveryReport, error)
}

// Pending is implemented by engines that can tell how much log a restart of an environment would
// replay (Berkeley DB: the log since the last checkpoint; SQLite: the WAL bytes not checkpointed).
type Pending interface {
	// BytesSinceCheckpoint is how many log bytes a restart of envDir would replay.
	BytesSinceCheckpoint(ctx context.Context, envDir string) (int64, error)
}

// DatabaseLister is implemented by engines whose database files are known by their content, not
// by their names (SQLite: the 16-byte header).
type DatabaseLister interface {
	// Databases lists the database files of envDir, relative to it, sorted.
	Databases(envDir string) ([]string, error)
}

// Engine is an engine with every capability Berkeley DB has: what the archive, restore and drill
// commands take, which work from the log history.
type Engine interface {
	Core
	RotatingLogs
	Catastrophic
	Pending
}

// LSN is a position in the log: a log file number and an offset in it.
type LSN struct {
	File   uint32 `json:"file"`
	Offset int64  `json:"offset"`
}

// Less orders positions.
func (l LSN) Less(o LSN) bool { return l.File < o.File || l.File == o.File && l.Offset < o.Offset }

// Tail locates the log a normal recovery replays.
type Tail struct {
	// Start is where normal recovery starts reading (the last checkpoint's ckp_lsn).
	Start LSN `json:"start"`
	// Checkpoint is where the last checkpoint record itself lies; zero when there is none.
	Checkpoint LSN `json:"checkpoint"`
}

// CheckLogSequence returns an error naming the first gap in a list of log files sorted by number.
func CheckLogSequence(logs []LogFile) error {
	for i := 1; i < len(logs); i++ {
		if logs[i].Number != logs[i-1].Number+1 {
			return fmt.Errorf("log sequence has a gap: %s is followed by %s", logs[i-1].Rel, logs[i].Rel)
		}
	}
	return nil
}

// Archiver is implemented by engines that can list their files the way a hot backup of a running
// environment needs them (Berkeley DB's db_archive and db_checkpoint).
type Archiver interface {
	// Checkpoint forces a checkpoint of the running environment.
	Checkpoint(ctx context.Context, envDir string) error
	// DatabaseFiles lists the active database files, relative to envDir.
	DatabaseFiles(ctx context.Context, envDir string) ([]string, error)
	// InactiveLogs lists the log files no longer needed by normal recovery, relative to envDir.
	InactiveLogs(ctx context.Context, envDir string) ([]string, error)
}

// PointInTime is implemented by engines whose catastrophic recovery can stop at a moment, and that
// can tell the time of the last commit in a recovered environment (Berkeley DB: db_recover -c -t,
// and the timestamps of the commit records that db_printlog shows).
type PointInTime interface {
	// RecoverUntil runs catastrophic recovery of envDir up to until: transactions committed after
	// it are undone. Its resolution is the engine's (Berkeley DB: one second).
	RecoverUntil(ctx context.Context, envDir string, until time.Time) (RecoveryReport, error)
	// LastCommit is the time of the last committed transaction in envDir's log; ok is false when the
	// log holds no commit.
	LastCommit(ctx context.Context, envDir string) (last time.Time, ok bool, err error)
}
