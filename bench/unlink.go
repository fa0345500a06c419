package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

// The unlink benchmark: how long the application waits on the unlink of a log file through the
// mount, with a retention policy (--retain-logs 2: a retention pass asks the engine what recovery
// of the mirror needs) against --retain-logs all. Retention runs off the request path, so the two
// should be alike. Run it alone with:
//
//	bin/bench -throughput=false -recovery= -copy 0 -resync 0 -unlink 100 -out /tmp/bench

var unlinkLogs = flag.Int("unlink", 100, "log files unlinked through the mount for the unlink-latency rows (0: skip)")

// unlinkRow is the latency of the unlinks of log files through a mount with one retention policy.
type unlinkRow struct {
	Retain               string
	Files                int
	Median, P90, Slowest time.Duration
}

func unlinkBench(ctx context.Context, bin, base string, d1, d2 *loopFS, n int) ([]unlinkRow, error) {
	var rows []unlinkRow
	for _, retain := range []string{"all", "2"} {
		if err := ctx.Err(); err != nil {
			return rows, err
		}
		c := mirrorctlConfig("unlink", bin, base, d1, d2, "--retain-logs", retain)
		mp, teardown, err := c.setup()
		if err != nil {
			return rows, fmt.Errorf("unlink benchmark, --retain-logs %s: %w", retain, err)
		}
		row, err := unlinkLatency(bin, mp, n)
		teardown()
		if err != nil {
			return rows, fmt.Errorf("unlink benchmark, --retain-logs %s: %w", retain, err)
		}
		row.Retain = retain
		fmt.Printf("unlink of %d log files, --retain-logs %-4s median %s, p90 %s, slowest %s\n", row.Files, retain,
			row.Median, row.P90, row.Slowest)
		rows = append(rows, row)
	}
	return rows, nil
}

// unlinkLatency writes a Berkeley DB environment with at least n+1 log files through the mount at
// mp, then unlinks the n oldest logs one by one (as db_archive -d or an operator would), timing each.
func unlinkLatency(bin, mp string, n int) (unlinkRow, error) {
	var logs []string
	for start := 0; len(logs) < n+1; start += 500 {
		cmd := exec.Command(bin, "workload", "run", "--dir", mp, "--txns", "500", "--start", strconv.Itoa(start),
			"--value-size", "4096", "--log-size", "65536", "--checkpoint-every", "50")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return unlinkRow{}, fmt.Errorf("workload: %v: %s", err, out.String())
		}
		var err error
		if logs, err = filepath.Glob(filepath.Join(mp, "log.*")); err != nil {
			return unlinkRow{}, err
		}
	}
	sort.Strings(logs) // log.NNNNNNNNNN: by name is by number
	took := make([]float64, 0, n)
	for _, l := range logs[:n] {
		start := time.Now()
		if err := os.Remove(l); err != nil {
			return unlinkRow{}, err
		}
		took = append(took, float64(time.Since(start)))
	}
	sort.Float64s(took)
	med, _, hi := median(took)
	return unlinkRow{Files: n, Median: time.Duration(med), P90: time.Duration(took[len(took)*9/10]), Slowest: time.Duration(hi)}, nil
}
