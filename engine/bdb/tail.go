package bdb

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/mirrorctl/mirrorctl/engine"
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
//
// It only reads envDir: db_printlog runs in a private home that holds links to the log files, because
// run on envDir itself it joins the environment's region files (__db.*) and rewrites them, which
// `status` of a plain environment, or of a mirror behind its mount's back, must never do.
func (b *BDB) tail(ctx context.Context, envDir string) (engine.Tail, error) {
	logs, err := b.Logs(envDir)
	if err != nil {
		return engine.Tail{}, err
	}
	if len(logs) == 0 {
		return engine.Tail{}, fmt.Errorf("%s has no log files", envDir)
	}
	home, err := logOnlyHome(envDir, logs[max(0, len(logs)-maxTailScan):])
	if err != nil {
		return engine.Tail{}, err
	}
	defer os.RemoveAll(home)
	for i := len(logs) - 1; i >= 0 && i >= len(logs)-maxTailScan; i-- {
		n := logs[i].Number
		args := []string{"-h", home, "-b", fmt.Sprintf("%d/0", n)}
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

// logOnlyHome makes a temporary environment home holding symbolic links to the given log files of
// envDir and nothing else: a utility run there reads the logs and creates its regions, if any, in
// the temporary home. The caller removes it.
func logOnlyHome(envDir string, logs []engine.LogFile) (string, error) {
	home, err := os.MkdirTemp("", "mirrorctl-printlog-")
	if err != nil {
		return "", fmt.Errorf("read the log of %s: %w", envDir, err)
	}
	for _, l := range logs {
		src := filepath.Join(envDir, filepath.FromSlash(l.Rel))
		if filepath.IsAbs(l.Rel) {
			src = l.Rel
		}
		if abs, err := filepath.Abs(src); err == nil {
			src = abs
		}
		if err := os.Symlink(src, filepath.Join(home, filepath.Base(src))); err != nil {
			os.RemoveAll(home)
			return "", fmt.Errorf("read the log of %s: %w", envDir, err)
		}
	}
	return home, nil
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
