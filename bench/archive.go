package main

// The archive's benchmarks (issue 17): what `mount --archive` costs a committing application, and
// how long a restore takes against the environment's size, from the archive and from the local
// mirror. Both use a versitygw on loopback, started here over a directory of the regime's base (not
// on its loop disks) and stopped at exit; without versitygw they are skipped with one line.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mirrorctl/mirrorctl/internal/versitygw"
)

var (
	archiveOn    = flag.Bool("archive", true, "run the archive benchmarks: its cost to commits through the mount, and restore time against environment size (needs versitygw: make versitygw; false: skip)")
	archiveSizes = flag.String("archive-sizes", "64,256", "MiB of database of the environments restored from the archive (empty: skip the restore rows)")
)

const archiveBucket = "archbench"

// archiveResult is what the archive benchmarks measured on one regime's disks.
type archiveResult struct {
	Regime, Title string
	Skipped       string // why nothing was measured ("": measured)
	// Without and With are the 256 B one-thread commit rates of the mount without and with
	// --archive, one per round; Pushes the pushes the --archive mount made during each timed run.
	Without, With, Pushes []float64
	Restores              []restoreRow
}

// restoreRow is one environment restored from the archive and from the mirror, every round.
type restoreRow struct {
	DatabaseMiB        int   // asked for
	DatabaseBytes      int64 // the databases built
	LogBytes           int64 // their log
	Fetched            int64 // bytes a restore from the archive downloaded (its report's bytes)
	FromS3, FromMirror []time.Duration
}

// parseSizes reads -archive-sizes: MiB above zero, separated by commas; "" is none.
func parseSizes(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-archive-sizes %q: %q is not a size in MiB above zero: write it like 64,256", s, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// keySpaceFor is the workload's key space that fills mib MiB of database: each commit writes a 4 KiB
// value to each of its two databases, and a 4 KiB value does not fit on a 4 KiB page beside its
// header, so it takes two overflow pages: a key is 16 KiB of database (measured: 1,024 keys, 16 MiB).
func keySpaceFor(mib int) int { return mib << 20 / 16384 }

// archiveBench starts versitygw and runs both benchmarks on g's disks.
func archiveBench(ctx context.Context, bin string, g *regime) (*archiveResult, error) {
	sizes, err := parseSizes(*archiveSizes)
	if err != nil {
		return nil, err
	}
	res := &archiveResult{Regime: g.key, Title: g.title}
	vgw, err := versitygw.Find()
	if err != nil {
		res.Skipped = err.Error()
		fmt.Printf("skipping the archive benchmarks: %v\n", err)
		return res, nil
	}
	root := filepath.Join(g.base, "s3")
	if err := os.Mkdir(root, 0o755); err != nil {
		return nil, err
	}
	addr, err := versitygw.FreeAddr()
	if err != nil {
		return nil, err
	}
	cfg := versitygw.Config{Binary: vgw, Addr: addr, Dir: root, AccessKey: "mirrorctlbench", SecretKey: "mirrorctl-bench-secret-0123456789"}
	srv, err := versitygw.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	atExit(srv.Stop)
	if err := srv.MakeBucket(ctx, archiveBucket); err != nil {
		return nil, err
	}
	// The mounts, pushes and restores started below are children of this process: they take the
	// server's keys from its environment, the AWS way.
	os.Setenv("AWS_ACCESS_KEY_ID", cfg.AccessKey)
	os.Setenv("AWS_SECRET_ACCESS_KEY", cfg.SecretKey)
	os.Setenv("AWS_REGION", "us-east-1")
	endpoint := "http://" + addr
	if err := archiveCommits(ctx, bin, g, endpoint, res); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	for _, mib := range sizes {
		row, err := restoreBench(ctx, bin, g, endpoint, mib)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err() // a signal, not the failure of a child it killed
			}
			return nil, err
		}
		res.Restores = append(res.Restores, row)
	}
	return res, nil
}

// archiveCommits measures, round by round, 256 B synchronous commits through a mount without and
// with --archive, both mounted at once on g's disks (the order turns each round). Each round gets
// fresh mounts and a fresh archive prefix; before the timed runs an environment is made at each
// mount's root (the archive pushes an environment at the mirror's root) and the archive has taken
// its first snapshot, so the timed run pays for the pushes of new log bytes, as in service.
func archiveCommits(ctx context.Context, bin string, g *regime, endpoint string, res *archiveResult) error {
	res.Without, res.With, res.Pushes = nanRounds(*rounds), nanRounds(*rounds), nanRounds(*rounds)
	for r := 0; r < *rounds; r++ {
		url := fmt.Sprintf("s3://%s/commits/round%d", archiveBucket, r)
		plain := mirrorctlConfig("mirrorctl", bin, g.base, g.d1, g.d2)
		arch := mirrorctlConfig("mirrorctl --archive", bin, g.base, g.d1, g.d2, "--archive", url, "--s3-endpoint", endpoint)
		if err := archiveRound(ctx, bin, r, plain, arch, res); err != nil {
			return err
		}
	}
	return nil
}

func archiveRound(ctx context.Context, bin string, r int, plain, arch *config, res *archiveResult) error {
	var teardowns []func()
	defer func() {
		for i := len(teardowns) - 1; i >= 0; i-- {
			teardowns[i]()
		}
	}()
	for _, c := range []*config{plain, arch} {
		dir, teardown, err := c.setup()
		if err != nil {
			return fmt.Errorf("archive benchmark: mount %s: %w", c.name, err)
		}
		c.dir = dir
		teardowns = append(teardowns, teardown)
		if out, err := exec.CommandContext(ctx, bin, "workload", "run", "--dir", dir, "--txns", "200", "--value-size", "256").CombinedOutput(); err != nil {
			return fmt.Errorf("archive benchmark: first commits through %s: %v: %s", c.name, err, out)
		}
	}
	if _, err := waitArchived(ctx, bin, arch.dir); err != nil {
		return err
	}
	order := []*config{plain, arch}
	if r%2 == 1 {
		order = []*config{arch, plain}
	}
	for _, c := range order {
		if err := ctx.Err(); err != nil {
			return err
		}
		before, _ := archiveStatus(bin, arch.dir)
		v, err := bdbRun(bin, c.dir, 256, 1)
		if err != nil {
			return fmt.Errorf("archive benchmark: commits through %s: %w", c.name, err)
		}
		if c == arch {
			res.With[r] = v
			if after, err := archiveStatus(bin, arch.dir); err == nil {
				res.Pushes[r] = float64(after.Pushes - before.Pushes)
			}
		} else {
			res.Without[r] = v
		}
		fmt.Printf("round %d  %-4s %-36s %-42s %12.1f txn/s\n", r+1, "arch", c.name, bdbName(256, 1), v)
	}
	return nil
}

// pushStatus is the part of `status --json`'s archive object the benchmark reads.
type pushStatus struct {
	Generation uint64 `json:"generation"`
	Pushes     int64  `json:"pushes"`
	LagBytes   int64  `json:"lag_bytes"`
	Failing    bool   `json:"failing"`
	LastError  string `json:"last_error"`
}

func archiveStatus(bin, mp string) (pushStatus, error) {
	out, err := exec.Command(bin, "status", "--json", mp).Output()
	if err != nil {
		return pushStatus{}, fmt.Errorf("status %s: %v", mp, err)
	}
	var st struct {
		Archive *pushStatus `json:"archive"`
	}
	if err := json.Unmarshal(out, &st); err != nil || st.Archive == nil {
		return pushStatus{}, fmt.Errorf("status --json %s has no archive: %v: %s", mp, err, out)
	}
	return *st.Archive, nil
}

// waitArchived waits (at most a minute) until the mount's archive holds its mirror.
func waitArchived(ctx context.Context, bin, mp string) (pushStatus, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		st, err := archiveStatus(bin, mp)
		if err == nil && st.Generation > 0 && st.LagBytes == 0 && !st.Failing {
			return st, nil
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("archive benchmark: the archive of %s did not catch up within a minute (%v, last error %q)", mp, err, st.LastError)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// restoreBench builds an environment of mib MiB of database on g's first disk (the commit workload
// of the failover benchmark, 4 KiB values, until every key of the key space is written), mirrors it
// with sync to the second, pushes the mirror once, then times each round, with the page cache
// dropped before each, a restore from the archive and one from the mirror onto the first disk.
func restoreBench(ctx context.Context, bin string, g *regime, endpoint string, mib int) (restoreRow, error) {
	row := restoreRow{DatabaseMiB: mib}
	env, rm, err := mkdirFresh(g.d1, fmt.Sprintf("archive-env%d", mib))
	if err != nil {
		return row, err
	}
	defer rm()
	keys := strconv.Itoa(keySpaceFor(mib))
	if out, err := exec.CommandContext(ctx, bin, "workload", "run", "--dir", env, "--txns", keys, "--key-space", keys, "--value-size", "4096",
		"--checkpoint-every", "480", "--log-size", strconv.Itoa(10<<20)).CombinedOutput(); err != nil {
		return row, fmt.Errorf("archive benchmark: making a %d MiB environment: %v: %s", mib, err, lastLine(out))
	}
	mirror := filepath.Join(g.d2.dir, fmt.Sprintf("archive-mirror%d", mib))
	os.RemoveAll(mirror)
	defer os.RemoveAll(mirror)
	if out, err := exec.CommandContext(ctx, bin, "sync", "--files", "--primary", env, "--mirror", mirror).CombinedOutput(); err != nil {
		return row, fmt.Errorf("archive benchmark: sync: %v: %s", err, lastLine(out))
	}
	row.DatabaseBytes, row.LogBytes = databaseBytes(mirror), logBytes(mirror)
	url := fmt.Sprintf("s3://%s/restore/%dMiB", archiveBucket, mib)
	if out, err := exec.CommandContext(ctx, bin, "archive", "push", "--mirror", mirror, "--s3-endpoint", endpoint, url).CombinedOutput(); err != nil {
		return row, fmt.Errorf("archive benchmark: archive push: %v: %s", err, lastLine(out))
	}
	target := filepath.Join(g.d1.dir, "archive-restored")
	defer os.RemoveAll(target)
	sources := []string{url, mirror}
	for r := 0; r < *rounds; r++ {
		for i := range sources {
			src := sources[(i+r)%2] // the order turns each round
			if err := ctx.Err(); err != nil {
				return row, err
			}
			os.RemoveAll(target)
			dropCaches()
			start := time.Now()
			out, err := exec.CommandContext(ctx, bin, "restore", "--json", "--from", src, "--to", target, "--s3-endpoint", endpoint).Output()
			took := time.Since(start)
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					out = ee.Stderr
				}
				return row, fmt.Errorf("archive benchmark: restore --from %s: %v: %s", src, err, lastLine(out))
			}
			if src == url {
				row.FromS3 = append(row.FromS3, took)
				var rep struct {
					Bytes int64 `json:"bytes"`
				}
				if json.Unmarshal(out, &rep) == nil {
					row.Fetched = rep.Bytes
				}
			} else {
				row.FromMirror = append(row.FromMirror, took)
			}
			fmt.Printf("restore  %5d MiB of database  --from %-40s %s\n", mib, src, took.Round(time.Millisecond))
		}
	}
	return row, nil
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// archiveTables writes the archive's sections of results.md (nothing when it did not run).
func archiveTables(md *strings.Builder, a *archiveResult) {
	if a == nil {
		return
	}
	if a.Skipped != "" {
		fmt.Fprintf(md, "Not measured: the archive's cost to commits and restore time (%s).\n\n", a.Skipped)
		return
	}
	fmt.Fprintf(md, "## The archive's cost to commits\n\n")
	fmt.Fprintf(md, "Berkeley DB synchronous commits of 256 B values from one thread through `mirrorctl mount`, without and with `--archive` (the default `--archive-interval` of 1 s) to a versitygw on loopback, whose objects are on the host disk outside the loop disks. Primary and mirror on the two %s of regime %s. Both mounts are up at once in each round, the order turns each round, and before the timed runs each environment exists and the archive holds its first snapshot.\n\n", a.Title, a.Regime)
	tableHead(md, "workload", "mirrorctl", "mirrorctl --archive", "with ÷ without", "pushes during the run")
	tableRow(md, bdbName(256, 1)+" (txn/s)", figure(summarize(a.Without)), figure(summarize(a.With)), ratio(summarize(ratios(a.With, a.Without))), figure(summarize(a.Pushes)))
	fmt.Fprintln(md)
	if len(a.Restores) == 0 {
		return
	}
	fmt.Fprintf(md, "## Restore time against environment size\n\n")
	fmt.Fprintf(md, "Each environment was made by the commit workload (4 KiB values, a checkpoint every 480 commits, 10 MiB logs) until every key was written, mirrored with `mirrorctl sync` and pushed once with `mirrorctl archive push`; then, with the page cache dropped before each, `mirrorctl restore --to DIR` was timed from the archive (`--from s3://…`) and from the local mirror (`--from MIRRORDIR`), in turn. Both include verifying every checksum, catastrophic recovery and verifying the databases. Mirror and target on the %s of regime %s; the objects on the host disk.\n\n", a.Title, a.Regime)
	tableHead(md, "databases", "log", "downloaded", "from the archive, median (min–max)", "from the mirror, median (min–max)", "archive ÷ mirror")
	for _, r := range a.Restores {
		tableRow(md, humanBytes(r.DatabaseBytes), humanBytes(r.LogBytes), humanBytes(r.Fetched), durFigure(r.FromS3), durFigure(r.FromMirror),
			ratio(summarize(ratios(durSeconds(r.FromS3), durSeconds(r.FromMirror)))))
	}
	fmt.Fprintln(md)
}

func durFigure(v []time.Duration) string {
	if len(v) == 0 {
		return "—"
	}
	lo, hi := minMaxDur(v)
	return fmt.Sprintf("%s (%s–%s)", medianDur(v).Round(time.Millisecond), lo.Round(time.Millisecond), hi.Round(time.Millisecond))
}

func durSeconds(v []time.Duration) []float64 {
	out := make([]float64, len(v))
	for i, d := range v {
		out[i] = d.Seconds()
	}
	return out
}
