package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/mirrorctl/mirrorctl/archive"
	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/engine/lmdb"
	"github.com/urfave/cli/v2"
)

var s3EndpointFlag = &cli.StringFlag{
	Name:    "s3-endpoint",
	Usage:   "URL of an S3-compatible server (https://host:port, TLS verified; http:// without TLS); default Amazon S3. Credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws/credentials",
	EnvVars: []string{"AWS_ENDPOINT_URL"},
}

var partSizeFlag = &cli.StringFlag{
	Name:  "part-size",
	Usage: "upload objects larger than this in parts of this size (5MiB to 5GiB); an interrupted upload resumes from the parts the bucket holds",
	Value: "16MiB",
}

// storeConfig reads --s3-endpoint and --part-size.
func storeConfig(c *cli.Context) (archive.Config, error) {
	cfg := archive.Config{Endpoint: c.String("s3-endpoint")}
	if c.IsSet("part-size") {
		v := c.String("part-size")
		n, err := humanize.ParseBytes(v)
		if err != nil || n < archive.MinPartSize || n > archive.MaxPartSize {
			return cfg, usageError("--part-size %q is not a size from 5MiB to 5GiB (S3's limits for a part): write it like 16MiB", v)
		}
		cfg.PartSize = int64(n)
	}
	return cfg, nil
}

var snapshotEveryFlag = &cli.StringFlag{
	Name:  "snapshot-every",
	Usage: "take a new snapshot once this much log (e.g. 1GiB) was archived after the last one, so a restore replays at most about that much; default: only the first snapshot",
}

var (
	keepSnapshotsFlag = &cli.IntFlag{
		Name:  "archive-keep-snapshots",
		Usage: "retention in the bucket: keep the newest `N` snapshots (and the logs the oldest of them needs); 0: no rule by count",
	}
	keepAgeFlag = &cli.StringFlag{
		Name:  "archive-keep-age",
		Usage: "retention in the bucket: keep what a restore to any moment of the last `DURATION` (72h, 7d) needs; with --archive-keep-snapshots, what either keeps",
	}
)

// archiveEngine is the engine of the mirror dir, as its record names it; --snapshot-every, which
// counts log volume, is refused for an engine that keeps no log history.
func archiveEngine(c *cli.Context, dir string, o archive.PushOptions) (engine.Core, error) {
	eng, err := engineFor(c, dir)
	if err != nil {
		return nil, err
	}
	if err := archivable(eng, o); err != nil {
		return nil, err
	}
	return eng, nil
}

// archivable refuses what the archive cannot serve: --snapshot-every for an engine without a log
// history, and LMDB, whose data.mdb is a sparse file as large as its map: a snapshot would upload
// (and a restore write) every hole as zeros, a whole map's worth (measured: a 1 GiB map holding
// 300 commits restored as 1 GiB written). Until snapshots keep holes, LMDB is mirrored without one.
func archivable(eng engine.Core, o archive.PushOptions) error {
	if _, ok := eng.(lmdb.Engine); ok {
		return usageError("--archive does not serve LMDB yet: its data.mdb is a sparse file as large as the map, which a snapshot would upload dense; mirror it without --archive")
	}
	if _, hist := eng.(engine.Engine); !hist && o.SnapshotEvery > 0 {
		return usageError("--snapshot-every counts log volume, and %s keeps no log history: give --snapshot-interval (e.g. 1h) instead", eng.Name())
	}
	return nil
}

// retention reads --archive-keep-snapshots and --archive-keep-age.
func retention(c *cli.Context) (archive.Retention, error) {
	var r archive.Retention
	if n := c.Int("archive-keep-snapshots"); n < 0 {
		return r, usageError("--archive-keep-snapshots %d is not a count: give 1 or more (0: no rule by count)", n)
	} else {
		r.KeepSnapshots = n
	}
	if v := c.String("archive-keep-age"); v != "" {
		d, err := parseAge(v)
		if err != nil {
			return r, usageError("--archive-keep-age %q is not a duration above zero: write it like 72h or 7d", v)
		}
		r.KeepAge = d
	}
	return r, nil
}

// parseAge reads a Go duration or a number of days (7d).
func parseAge(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, fmt.Errorf("bad age %q", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad age %q", s)
	}
	return d, nil
}

var snapshotIntervalFlag = &cli.StringFlag{
	Name:  "snapshot-interval",
	Usage: "take a new snapshot once this long (e.g. 24h, 7d) passed since the last one, if the mirror changed since; with --snapshot-every, whichever comes first",
}

// pushOptions reads --snapshot-every and --snapshot-interval.
func pushOptions(c *cli.Context) (archive.PushOptions, error) {
	var o archive.PushOptions
	if v := c.String("snapshot-every"); v != "" {
		n, err := humanize.ParseBytes(v)
		if err != nil || n == 0 {
			return o, usageError("--snapshot-every %q is not a size above zero: write it like 1GiB or 500MB", v)
		}
		o.SnapshotEvery = int64(n)
	}
	if v := c.String("snapshot-interval"); v != "" {
		d, err := parseAge(v)
		if err != nil {
			return o, usageError("--snapshot-interval %q is not a duration above zero: write it like 24h or 7d", v)
		}
		o.SnapshotInterval = d
	}
	return o, nil
}

func archiveCommand() *cli.Command {
	return &cli.Command{
		Name:  "archive",
		Usage: "a third copy off the machine: snapshots and logs of the mirror in S3-compatible object storage",
		Description: examples(
			"mirrorctl archive push --mirror /disk2/env s3://backups/env", "upload what the archive lacks",
			"mirrorctl archive list s3://backups/env", "its snapshots and log ranges",
		),
		Subcommands: []*cli.Command{
			{
				Name:      "push",
				Usage:     "bring the archive up to the mirror: a snapshot if it has none, the sealed logs, the open log's bytes",
				ArgsUsage: "s3://bucket/prefix",
				Description: examples(
					"mirrorctl archive push --mirror /disk2/env s3://backups/env", "upload what the archive lacks",
					"mirrorctl archive push --mirror /disk2/env --s3-endpoint http://127.0.0.1:7070 s3://backups/env", "to an S3-compatible server",
				),
				Flags:  []cli.Flag{mirrorFlag, s3EndpointFlag, partSizeFlag, snapshotEveryFlag, snapshotIntervalFlag, bdbUtilsFlag, &cli.BoolFlag{Name: "json", Usage: "print the report as JSON"}},
				Action: runArchivePush,
			},
			{
				Name:      "prune",
				Usage:     "retention in the bucket: drop the snapshots the rules do not keep (none without a rule), the logs only they needed, and the objects no kept manifest names",
				ArgsUsage: "s3://bucket/prefix",
				Description: examples(
					"mirrorctl archive prune --archive-keep-snapshots 7 s3://backups/env", "keep the newest 7 snapshots",
					"mirrorctl archive prune --archive-keep-age 30d --dry-run s3://backups/env", "say what keeping 30 days would delete",
				),
				Flags:  []cli.Flag{s3EndpointFlag, keepSnapshotsFlag, keepAgeFlag, &cli.BoolFlag{Name: "dry-run", Usage: "say what would be deleted, delete nothing"}, &cli.BoolFlag{Name: "json", Usage: "print the report as JSON"}},
				Action: runArchivePrune,
			},
			{
				Name:      "list",
				Usage:     "the archive's snapshots and log ranges, with their times",
				ArgsUsage: "s3://bucket/prefix",
				Flags:     []cli.Flag{s3EndpointFlag, &cli.BoolFlag{Name: "json", Usage: "print the manifest as JSON"}},
				Action:    runArchiveList,
			},
		},
	}
}

// openStore parses the one argument as a location and connects.
func openStore(c *cli.Context, cmd string) (*archive.Store, error) {
	if c.NArg() != 1 {
		return nil, usageError("%s takes one argument, the archive: mirrorctl %s s3://bucket/prefix", cmd, cmd)
	}
	loc, err := archive.ParseLocation(c.Args().First())
	if err != nil {
		return nil, usageError("%v", err)
	}
	cfg, err := storeConfig(c)
	if err != nil {
		return nil, err
	}
	return archive.Open(c.Context, loc, cfg)
}

func runArchivePush(c *cli.Context) error {
	dir, err := requireDir(c, "mirror")
	if err != nil {
		return err
	}
	o, err := pushOptions(c) // bad input is refused before connecting
	if err != nil {
		return err
	}
	s, err := openStore(c, "archive push")
	if err != nil {
		return err
	}
	eng, err := archiveEngine(c, dir, o)
	if err != nil {
		return err
	}
	rep, err := archive.Push(c.Context, s, dir, eng, o)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return writeJSON(c.App.Writer, rep)
	}
	w := c.App.Writer
	upTo := fmt.Sprintf("log %d, %s of it", rep.NewestLog, humanize.IBytes(uint64(rep.OpenBytes)))
	if rep.NewestLog == 0 {
		upTo = "snapshots only: the engine keeps no log history"
	}
	if !rep.Changed {
		fmt.Fprintf(w, "%s is up to date (generation %d, %s)\n", rep.Location, rep.Generation, upTo)
		return nil
	}
	if rep.Snapshot != "" {
		fmt.Fprintf(w, "snapshot %s taken\n", rep.Snapshot)
	}
	fmt.Fprintf(w, "%s: generation %d, %d objects uploaded (%s sent), up to %s\n", rep.Location, rep.Generation, rep.Uploaded, humanize.IBytes(uint64(rep.Bytes)), upTo)
	printResumed(w, rep)
	return nil
}

// printResumed says what a push took over from an interrupted one, and what it cleaned up.
func printResumed(w io.Writer, rep archive.PushReport) {
	if rep.ResumedBytes > 0 {
		fmt.Fprintf(w, "resumed an interrupted upload: %s already in the bucket (%d parts) not sent again\n", humanize.IBytes(uint64(rep.ResumedBytes)), rep.ResumedParts)
	}
	if rep.AbortedUploads > 0 {
		fmt.Fprintf(w, "aborted %d abandoned incomplete uploads\n", rep.AbortedUploads)
	}
}

func runArchivePrune(c *cli.Context) error {
	r, err := retention(c)
	if err != nil {
		return err
	}
	s, err := openStore(c, "archive prune")
	if err != nil {
		return err
	}
	rep, err := archive.Prune(c.Context, s, r, c.Bool("dry-run"))
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return writeJSON(c.App.Writer, rep)
	}
	verb := "deleted"
	if rep.DryRun {
		verb = "would delete"
	}
	fmt.Fprintf(c.App.Writer, "%s: %d snapshots kept, %d dropped, logs from %d kept; %s %d objects (%s) and %d manifests; generation %d\n",
		rep.Location, len(rep.Kept), len(rep.Dropped), rep.FirstLog, verb, rep.Objects, humanize.IBytes(uint64(rep.Bytes)), rep.Manifests, rep.Generation)
	fmt.Fprintf(c.App.Writer, "kept %d objects (%s); %s %d abandoned incomplete uploads\n", rep.KeptObjects, humanize.IBytes(uint64(rep.KeptBytes)), strings.Replace(verb, "delete", "abort", 1), rep.AbortedUploads)
	return nil
}

func runArchiveList(c *cli.Context) error {
	s, err := openStore(c, "archive list")
	if err != nil {
		return err
	}
	m, ok, err := s.LatestManifest(c.Context)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w at %s: it holds no manifest; run mirrorctl archive push first", archive.ErrNoArchive, s.Location())
	}
	if c.Bool("json") {
		return writeJSON(c.App.Writer, m)
	}
	printManifest(c.App.Writer, s.Location(), m)
	return nil
}

func printManifest(w io.Writer, loc archive.Location, m archive.Manifest) {
	eng := m.Engine
	if eng == "" {
		eng = "bdb"
	}
	fmt.Fprintf(w, "%s  generation %d, written %s, engine %s\n", loc, m.Generation, m.Written.Format(time.RFC3339), eng)
	fmt.Fprintln(w, "snapshots:")
	for _, s := range m.Snapshots {
		var size int64
		for _, f := range s.Files {
			size += f.Size
		}
		needs := fmt.Sprintf("needs logs from %d", s.FirstLog)
		if s.FirstLog == 0 {
			needs = "the mirror as it was then (no log history)"
		}
		fmt.Fprintf(w, "  %s  taken %s, %d files (%s), %s\n", s.ID, s.Done.Format(time.RFC3339), len(s.Files), humanize.IBytes(uint64(size)), needs)
	}
	if m.Engine != "" && m.Engine != "bdb" && len(m.Logs) == 0 {
		printWALs(w, m)
		return
	}
	fmt.Fprintln(w, "logs:")
	for _, r := range logRanges(m.Logs) {
		fmt.Fprintf(w, "  %s\n", r)
	}
}

// printWALs lists the WALs shipped after the newest snapshot (SQLite): how far each goes, and when
// its last part was pushed.
func printWALs(w io.Writer, m archive.Manifest) {
	fmt.Fprintln(w, "WALs shipped after the newest snapshot:")
	n := 0
	if len(m.Snapshots) > 0 {
		newest := m.Snapshots[len(m.Snapshots)-1].ID
		last := map[string]archive.WAL{}
		var order []string
		for _, l := range m.WALs {
			if l.Snapshot != newest || len(l.Parts) == 0 {
				continue
			}
			if _, ok := last[l.Rel]; !ok {
				order = append(order, l.Rel)
			}
			last[l.Rel] = l
		}
		for _, rel := range order {
			l := last[rel]
			fmt.Fprintf(w, "  %s  %s in %d parts, to %s\n", rel, humanize.IBytes(uint64(l.Covered)), len(l.Parts), l.Parts[len(l.Parts)-1].Pushed.Format(time.RFC3339))
			n++
		}
	}
	if n == 0 {
		fmt.Fprintln(w, "  none")
	}
}

// logRanges describes the logs as runs without gaps, each with its last modification time.
func logRanges(logs []archive.Log) []string {
	var out []string
	for i := 0; i < len(logs); {
		j := i
		var size int64
		for ; j+1 < len(logs) && logs[j+1].Number == logs[j].Number+1; j++ {
		}
		for _, l := range logs[i : j+1] {
			size += l.Size
		}
		last := logs[j]
		state := "sealed"
		if !last.Sealed {
			state = "open"
		}
		out = append(out, fmt.Sprintf("%d-%d  %s, to %s (last %s)", logs[i].Number, last.Number, humanize.IBytes(uint64(size)), last.Modified.Format(time.RFC3339), state))
		i = j + 1
	}
	if len(out) == 0 {
		out = append(out, "none")
	}
	return out
}
