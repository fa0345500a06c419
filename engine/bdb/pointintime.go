package bdb

// Point-in-time recovery: db_recover -c -t takes a local time with one-second resolution
// ([[CC]YY]MMDDhhmm[.SS]), and a commit's time is the timestamp of its __txn_regop record.

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/mirrorctl/mirrorctl/engine"
)

var _ engine.PointInTime = (*BDB)(nil)

// FormatRecoverTime formats t as db_recover -t reads it: in the local time zone, to the second.
func FormatRecoverTime(t time.Time) string { return t.Local().Format("200601021504.05") }

// RecoverUntil implements engine.PointInTime with db_recover -v -c -t.
func (b *BDB) RecoverUntil(ctx context.Context, envDir string, until time.Time) (engine.RecoveryReport, error) {
	start := time.Now()
	out, err := b.run(ctx, b.tools.Recover, "-h", envDir, "-v", "-c", "-t", FormatRecoverTime(until))
	r := ParseRecoverOutput(out)
	r.Catastrophic = true
	r.Duration = time.Since(start)
	r.Output = out
	return r, err
}

// reCommit matches a commit record of db_printlog: "__txn_regop: ...\n\topcode: 1\n\ttimestamp: N".
var reCommit = regexp.MustCompile(`__txn_regop:[^\n]*\n\s*opcode: 1\n\s*timestamp: (\d+)`)

// LastCommitTime finds the timestamp of the last commit record in db_printlog output.
func LastCommitTime(out string) (time.Time, bool) {
	m := reCommit.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(m[len(m)-1][1], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(sec, 0).UTC(), true
}

// LastCommit implements engine.PointInTime: it prints the log files newest first, in a private home
// (as tail does), until one holds a commit.
func (b *BDB) LastCommit(ctx context.Context, envDir string) (time.Time, bool, error) {
	logs, err := b.Logs(envDir)
	if err != nil || len(logs) == 0 {
		return time.Time{}, false, err
	}
	home, err := logOnlyHome(envDir, logs)
	if err != nil {
		return time.Time{}, false, err
	}
	defer os.RemoveAll(home)
	for i := len(logs) - 1; i >= 0; i-- {
		args := []string{"-h", home, "-b", strconv.FormatUint(uint64(logs[i].Number), 10) + "/0"}
		if i+1 < len(logs) {
			args = append(args, "-e", strconv.FormatUint(uint64(logs[i+1].Number), 10)+"/0")
		}
		out, err := b.run(ctx, b.tools.Printlog, args...)
		if err != nil {
			return time.Time{}, false, err
		}
		if t, ok := LastCommitTime(out); ok {
			return t, true, nil
		}
	}
	return time.Time{}, false, nil
}
