package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	lmdbworkload "github.com/mirrorctl/mirrorctl/engine/lmdb/workload"
	sqliteworkload "github.com/mirrorctl/mirrorctl/engine/sqlite/workload"
	"github.com/urfave/cli/v2"
)

// engineWorkloadCommands are the LMDB and SQLite workloads of the drill and the tests (`mirrorctl
// workload lmdb run`, `... sqlite check`), beside the Berkeley DB one. Each runs in its own process,
// as that one does.
func engineWorkloadCommands() []*cli.Command {
	dirFlag := &cli.StringFlag{Name: "dir", Required: true, Usage: "environment directory", TakesFile: true}
	valueFlag := &cli.IntFlag{Name: "value-size", Value: 256, Usage: "bytes per value"}
	txnsFlag := &cli.IntFlag{Name: "txns", Usage: "stop after this many commits (0: until a signal)"}
	ackedFlag := &cli.StringFlag{Name: "acked", Required: true, Usage: "file of acknowledged keys, as printed by run", TakesFile: true}
	return []*cli.Command{
		{
			Name:  "lmdb",
			Usage: "an LMDB workload: one key into two named databases per commit",
			Subcommands: []*cli.Command{
				{
					Name:  "run",
					Usage: "commit transactions; print each acknowledged key on stdout",
					Flags: []cli.Flag{dirFlag, valueFlag, txnsFlag,
						&cli.BoolFlag{Name: "writemap", Usage: "open with MDB_WRITEMAP (commits are writes to a shared map, then msync)"},
						&cli.Int64Flag{Name: "map-size", Value: 256 << 20, Usage: "the map's size in bytes"}},
					Action: func(c *cli.Context) error {
						return runEngineWorkload(c, func(ctx context.Context, w *bufio.Writer) (any, error) {
							return lmdbworkload.Run(ctx, lmdbworkload.Options{Dir: c.String("dir"), WriteMap: c.Bool("writemap"),
								MapSize: c.Int64("map-size"), ValueSize: c.Int("value-size"), Txns: c.Int("txns")}, w)
						})
					},
				},
				{
					Name:  "check",
					Usage: "check that every acknowledged key (read from --acked) is in the environment",
					Flags: []cli.Flag{dirFlag, valueFlag, ackedFlag},
					Action: func(c *cli.Context) error {
						return checkEngineWorkload(c, func(acked []int) (any, int, error) {
							r, err := lmdbworkload.Check(lmdbworkload.Options{Dir: c.String("dir"), ValueSize: c.Int("value-size")}, acked)
							return r, r.Lost + r.Wrong, err
						})
					},
				},
			},
		},
		{
			Name:  "sqlite",
			Usage: "a SQLite workload: one row into a WAL database and a rollback-journal database per commit",
			Subcommands: []*cli.Command{
				{
					Name:  "run",
					Usage: "commit transactions; print each acknowledged key on stdout",
					Flags: []cli.Flag{dirFlag, valueFlag, txnsFlag},
					Action: func(c *cli.Context) error {
						return runEngineWorkload(c, func(ctx context.Context, w *bufio.Writer) (any, error) {
							return sqliteworkload.Run(ctx, sqliteworkload.Options{Dir: c.String("dir"), ValueSize: c.Int("value-size"), Txns: c.Int("txns")}, w)
						})
					},
				},
				{
					Name:  "check",
					Usage: "check that every acknowledged row (read from --acked) is in every database",
					Flags: []cli.Flag{dirFlag, valueFlag, ackedFlag},
					Action: func(c *cli.Context) error {
						return checkEngineWorkload(c, func(acked []int) (any, int, error) {
							r, err := sqliteworkload.Check(c.Context, sqliteworkload.Options{Dir: c.String("dir"), ValueSize: c.Int("value-size")}, acked)
							return r, r.Lost + r.Wrong, err
						})
					},
				},
			},
		},
	}
}

// runEngineWorkload runs a workload until SIGINT or SIGTERM, keys on stdout, its stats on stderr.
func runEngineWorkload(c *cli.Context, run func(context.Context, *bufio.Writer) (any, error)) error {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	w := bufio.NewWriter(os.Stdout)
	st, err := run(ctx, w)
	w.Flush()
	b, _ := json.Marshal(st)
	fmt.Fprintf(os.Stderr, "workload: %s\n", b)
	return err
}

// checkEngineWorkload reads the ledger, checks it, prints the result as JSON, and fails if a commit
// is lost or wrong.
func checkEngineWorkload(c *cli.Context, check func([]int) (any, int, error)) error {
	f, err := os.Open(c.String("acked"))
	if err != nil {
		return err
	}
	defer f.Close()
	acked, err := lmdbworkload.ReadAcked(f)
	if err != nil {
		return err
	}
	res, bad, err := check(acked)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(res)
	fmt.Fprintln(c.App.Writer, string(b))
	if bad > 0 {
		return fmt.Errorf("%d acknowledged commits lost or wrong", bad)
	}
	return nil
}
