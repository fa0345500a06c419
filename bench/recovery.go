package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// recoveryRow compares promote (normal recovery of the tail) with catastrophic recovery of the same
// mirror, for a given amount of log history.
type recoveryRow struct {
	HistoryMiB   int
	DatabaseMiB  float64
	LogFiles     int
	Replayed     int
	Promote      time.Duration
	Catastrophic time.Duration
}

// recoveryBench builds environments with the requested log history (a Berkeley DB workload with 4 KiB
// values over a fixed set of 4,000 keys, so the databases (two of about 16 MiB each, full after the
// first 32 MiB of log) stay the same size while the log grows,
// and a checkpoint every ~4 MiB of log, killed with SIGKILL once the history is long enough,
// like a crash), mirrors each with sync, and times promote against db_recover -c on a copy.
func recoveryBench(ctx context.Context, bin string, d1, d2 *loopFS) ([]recoveryRow, error) {
	var rows []recoveryRow
	for _, s := range strings.Split(*recoverySize, ",") {
		mib, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("-recovery %q: %v", *recoverySize, err)
		}
		env, rm, err := mkdirFresh(d1, fmt.Sprintf("history%d", mib))
		if err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, bin, "workload", "run", "--dir", env, "--value-size", "4096", "--checkpoint-every", "480", "--log-size", strconv.Itoa(10<<20), "--key-space", "4000")
		cmd.Stdout = nil
		var werr bytes.Buffer
		cmd.Stderr = &werr
		if err := cmd.Start(); err != nil {
			rm()
			return nil, err
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		tick := time.NewTicker(200 * time.Millisecond)
		for logBytes(env) < int64(mib)<<20 {
			select {
			case <-ctx.Done():
				cmd.Process.Kill()
				<-exited
				rm()
				return nil, ctx.Err()
			case err := <-exited:
				tick.Stop()
				rm()
				return nil, fmt.Errorf("the workload stopped before %d MiB of log: %v: %s", mib, err, werr.String())
			case <-tick.C:
			}
		}
		tick.Stop()
		cmd.Process.Kill()
		<-exited
		q := filepath.Join(d2.dir, fmt.Sprintf("history%d", mib))
		os.RemoveAll(q)
		if out, err := exec.Command(bin, "sync", "--files", "--primary", env, "--mirror", q).CombinedOutput(); err != nil {
			rm()
			return nil, fmt.Errorf("sync: %v: %s", err, out)
		}
		cat := q + "-catastrophic"
		os.RemoveAll(cat)
		if out, err := exec.Command("cp", "-a", q, cat).CombinedOutput(); err != nil {
			rm()
			return nil, fmt.Errorf("cp: %v: %s", err, out)
		}
		syscall.Sync() // the copies above must not be written back while recovery is timed
		out, err := exec.Command(bin, "promote", "--json", "--mirror", q).Output()
		if err != nil {
			rm()
			return nil, fmt.Errorf("promote: %v: %s", err, out)
		}
		var pr struct {
			Duration time.Duration `json:"duration_ns"`
			LogFiles int           `json:"log_files"`
			Replayed []struct{}    `json:"replayed"`
		}
		if err := json.Unmarshal(out, &pr); err != nil {
			rm()
			return nil, err
		}
		matches, _ := filepath.Glob(filepath.Join(cat, "__db.*"))
		for _, m := range matches {
			os.Remove(m)
		}
		syscall.Sync()
		start := time.Now()
		var errb bytes.Buffer
		rc := exec.Command("db_recover", "-c", "-h", cat)
		rc.Stderr = &errb
		if err := rc.Run(); err != nil {
			rm()
			return nil, fmt.Errorf("db_recover -c: %v: %s", err, errb.String())
		}
		catDur := time.Since(start)
		rows = append(rows, recoveryRow{HistoryMiB: mib, DatabaseMiB: float64(databaseBytes(q)) / (1 << 20), LogFiles: pr.LogFiles, Replayed: len(pr.Replayed), Promote: pr.Duration, Catastrophic: catDur})
		fmt.Printf("recovery  %5d MiB of log (%d files): promote %s (read %d files), db_recover -c %s\n", mib, pr.LogFiles, pr.Duration.Round(time.Millisecond), len(pr.Replayed), catDur.Round(time.Millisecond))
		rm()
		os.RemoveAll(q)
		os.RemoveAll(cat)
	}
	return rows, nil
}

func logBytes(dir string) int64 {
	matches, _ := filepath.Glob(filepath.Join(dir, "log.*"))
	var n int64
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil {
			n += st.Size()
		}
	}
	return n
}

// databaseBytes adds up the sizes of the files of dir that are neither logs nor regions.
func databaseBytes(dir string) int64 {
	ents, _ := os.ReadDir(dir)
	var n int64
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, "log.") || strings.HasPrefix(name, "__db") || name == "DB_CONFIG" {
			continue
		}
		if info, err := e.Info(); err == nil {
			n += info.Size()
		}
	}
	return n
}
