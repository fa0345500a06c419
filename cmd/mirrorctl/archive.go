package main

import (
	"fmt"
	"io"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/mirrorctl/mirrorctl/archive"
	"github.com/urfave/cli/v2"
)

var s3EndpointFlag = &cli.StringFlag{
	Name:    "s3-endpoint",
	Usage:   "URL of an S3-compatible server (https://host:port, TLS verified; http:// without TLS); default Amazon S3. Credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws/credentials",
	EnvVars: []string{"AWS_ENDPOINT_URL"},
}

var snapshotEveryFlag = &cli.StringFlag{
	Name:  "snapshot-every",
	Usage: "take a new snapshot once this much log (e.g. 1GiB) was archived after the last one, so a restore replays at most about that much; default: only the first snapshot",
}

// pushOptions reads --snapshot-every.
func pushOptions(c *cli.Context) (archive.PushOptions, error) {
	var o archive.PushOptions
	if v := c.String("snapshot-every"); v != "" {
		n, err := humanize.ParseBytes(v)
		if err != nil || n == 0 {
			return o, usageError("--snapshot-every %q is not a size above zero: write it like 1GiB or 500MB", v)
		}
		o.SnapshotEvery = int64(n)
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
				Flags:  []cli.Flag{mirrorFlag, s3EndpointFlag, snapshotEveryFlag, bdbUtilsFlag, &cli.BoolFlag{Name: "json", Usage: "print the report as JSON"}},
				Action: runArchivePush,
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
	return archive.Open(c.Context, loc, archive.Config{Endpoint: c.String("s3-endpoint")})
}

func runArchivePush(c *cli.Context) error {
	dir, err := requireDir(c, "mirror")
	if err != nil {
		return err
	}
	s, err := openStore(c, "archive push")
	if err != nil {
		return err
	}
	eng, err := bdbEngine(c)
	if err != nil {
		return err
	}
	o, err := pushOptions(c)
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
	if !rep.Changed {
		fmt.Fprintf(w, "%s is up to date (generation %d, log %d, %s of it)\n", rep.Location, rep.Generation, rep.NewestLog, humanize.IBytes(uint64(rep.OpenBytes)))
		return nil
	}
	if rep.Snapshot != "" {
		fmt.Fprintf(w, "snapshot %s taken\n", rep.Snapshot)
	}
	fmt.Fprintf(w, "%s: generation %d, %d objects uploaded (%s), up to log %d (%s of it)\n", rep.Location, rep.Generation, rep.Uploaded, humanize.IBytes(uint64(rep.Bytes)), rep.NewestLog, humanize.IBytes(uint64(rep.OpenBytes)))
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
	fmt.Fprintf(w, "%s  generation %d, written %s\n", loc, m.Generation, m.Written.Format(time.RFC3339))
	fmt.Fprintln(w, "snapshots:")
	for _, s := range m.Snapshots {
		var size int64
		for _, f := range s.Files {
			size += f.Size
		}
		fmt.Fprintf(w, "  %s  taken %s, %d files (%s), needs logs from %d\n", s.ID, s.Done.Format(time.RFC3339), len(s.Files), humanize.IBytes(uint64(size)), s.FirstLog)
	}
	fmt.Fprintln(w, "logs:")
	for _, r := range logRanges(m.Logs) {
		fmt.Fprintf(w, "  %s\n", r)
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
