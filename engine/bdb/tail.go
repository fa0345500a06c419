package bdb

import (
	"context"
	"fmt"

	"github.com/mirrorctl/mirrorctl/engine"
	"regexp"
	"strconv"
)

// maxTailScan bounds how many log files TailStart reads backwards looking for a checkpoint.
const maxTailScan = 16

var reCkpLSN = regexp.MustCompile(`\[(\d+)\]\[(\d+)\]__txn_ckp:[^\n]*\n\s*ckp_lsn: \[(\d+)\]\[(\d+)\]`)

// LastCheckpoint finds the last checkpoint record in db_printlog output: where it lies, and its
// ckp_lsn, where normal recovery starts. ok is false when the output holds no checkpoint.
func LastCheckpoint(out string) (t engine.Tail, ok bool) {
	all := reCkpLSN.FindAllStringSubmatch(out, -1)
	if len(all) == 0 {
		return t, false
	}
	m := all[len(all)-1]
	var nums [4]int64
	for i := range nums {
		n, err := strconv.ParseUint(m[i+1], 10, 32)
		if err != nil {
			return t, false
		}
		nums[i] = int64(n)
	}
	t.Checkpoint = engine.LSN{File: uint32(nums[0]), Offset: nums[1]}
	t.Start = engine.LSN{File: uint32(nums[2]), Offset: nums[3]}
	return t, true
}

// tail finds where normal recovery of envDir will start: the ckp_lsn of the last checkpoint. It
// prints only the newest log files, one at a time backwards, so it stays cheap however long the
// history is. With no checkpoint in the last files, recovery starts at the first log.
func (b *BDB) tail(ctx context.Context, envDir string) (engine.Tail, error) {
	logs, err := b.Logs(envDir)
	if err != nil {
		return engine.Tail{}, err
	}
	if len(logs) == 0 {
		return engine.Tail{}, fmt.Errorf("%s has no log files", envDir)
	}
	for i := len(logs) - 1; i >= 0 && i >= len(logs)-maxTailScan; i-- {
		n := logs[i].Number
		args := []string{"-h", envDir, "-b", fmt.Sprintf("%d/0", n)}
		if i+1 < len(logs) {
			args = append(args, "-e", fmt.Sprintf("%d/0", logs[i+1].Number))
		}
		out, err := b.run(ctx, b.tools.Printlog, args...)
		if err != nil {
			return engine.Tail{}, err
		}
		if t, ok := LastCheckpoint(out); ok {
			return t, nil
		}
	}
	return engine.Tail{Start: engine.LSN{File: logs[0].Number}}, nil
}

// Tail implements engine.Engine.
func (b *BDB) Tail(ctx context.Context, envDir string) (engine.Tail, error) {
	return b.tail(ctx, envDir)
}

// BytesSinceCheckpoint implements engine.Engine.
func (b *BDB) BytesSinceCheckpoint(ctx context.Context, envDir string) (int64, error) {
	t, err := b.tail(ctx, envDir)
	if err != nil {
		return 0, err
	}
	f, off := t.Start.File, t.Start.Offset
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
