package bdb

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
)

// maxTailScan bounds how many log files TailStart reads backwards looking for a checkpoint.
const maxTailScan = 16

var reCkpLSN = regexp.MustCompile(`__txn_ckp:[^\n]*\n\s*ckp_lsn: \[(\d+)\]\[(\d+)\]`)

// LastCheckpoint finds the ckp_lsn of the last checkpoint record in db_printlog output: normal
// recovery starts there. ok is false when the output holds no checkpoint.
func LastCheckpoint(out string) (file uint32, offset int64, ok bool) {
	all := reCkpLSN.FindAllStringSubmatch(out, -1)
	if len(all) == 0 {
		return 0, 0, false
	}
	m := all[len(all)-1]
	f, err1 := strconv.ParseUint(m[1], 10, 32)
	o, err2 := strconv.ParseInt(m[2], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return uint32(f), o, true
}

// tail finds where normal recovery of envDir will start: the ckp_lsn of the last checkpoint. It
// prints only the newest log files, one at a time backwards, so it stays cheap however long the
// history is. With no checkpoint in the last files, recovery starts at the first log.
func (b *BDB) tail(ctx context.Context, envDir string) (uint32, int64, error) {
	logs, err := b.Logs(envDir)
	if err != nil {
		return 0, 0, err
	}
	if len(logs) == 0 {
		return 0, 0, fmt.Errorf("%s has no log files", envDir)
	}
	for i := len(logs) - 1; i >= 0 && i >= len(logs)-maxTailScan; i-- {
		n := logs[i].Number
		args := []string{"-h", envDir, "-b", fmt.Sprintf("%d/0", n)}
		if i+1 < len(logs) {
			args = append(args, "-e", fmt.Sprintf("%d/0", logs[i+1].Number))
		}
		out, err := b.run(ctx, b.tools.Printlog, args...)
		if err != nil {
			return 0, 0, err
		}
		if f, off, ok := LastCheckpoint(out); ok {
			return f, off, nil
		}
	}
	return logs[0].Number, 0, nil
}

// TailStart implements engine.Engine.
func (b *BDB) TailStart(ctx context.Context, envDir string) (uint32, error) {
	f, _, err := b.tail(ctx, envDir)
	return f, err
}

// BytesSinceCheckpoint is how many log bytes normal recovery of envDir would replay.
func (b *BDB) BytesSinceCheckpoint(ctx context.Context, envDir string) (int64, error) {
	f, off, err := b.tail(ctx, envDir)
	if err != nil {
		return 0, err
	}
	logs, err := b.Logs(envDir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, l := range logs {
		if l.Number >= f {
			n += l.Size
		}
	}
	return max(0, n-off), nil
}
