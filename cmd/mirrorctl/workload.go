package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mirrorctl/mirrorctl/engine/bdb/workload"
	"github.com/urfave/cli/v2"
)

// workloadCommand is the Berkeley DB workload of the drill and the tests. It runs in its own process:
// a process that serves a FUSE mount must not also use it.
func workloadCommand() *cli.Command {
	dirFlag := &cli.StringFlag{Name: "dir", Required: true, Usage: "environment directory", TakesFile: true}
	return &cli.Command{
		Name:   "workload",
		Usage:  "a Berkeley DB transactional workload with synchronous commits (used by the drill and the tests)",
		Hidden: true,
		Subcommands: append(engineWorkloadCommands(), []*cli.Command{
			{
				Name:  "run",
				Usage: "commit transactions; print each acknowledged key on stdout",
				Flags: []cli.Flag{
					dirFlag,
					&cli.IntFlag{Name: "txns", Usage: "stop after this many commits (0: until --duration or a signal)"},
					&cli.DurationFlag{Name: "duration", Usage: "stop after this long"},
					&cli.IntFlag{Name: "value-size", Value: 256, Usage: "bytes per value"},
					&cli.IntFlag{Name: "log-size", Value: 1 << 20, Usage: "log file size in bytes"},
					&cli.IntFlag{Name: "checkpoint-every", Value: 500, Usage: "checkpoint every N commits (0: never)"},
					&cli.BoolFlag{Name: "auto-remove", Usage: "let Berkeley DB remove log files it no longer needs"},
					&cli.IntFlag{Name: "start", Usage: "first key number"},
					&cli.BoolFlag{Name: "no-recover", Usage: "open without running recovery (which writes a checkpoint)"},
					&cli.IntFlag{Name: "key-space", Usage: "update keys modulo N, so the databases stay the same size (benchmarks)"},
					&cli.IntFlag{Name: "threads", Value: 1, Usage: "threads committing at once (group commit); with more than one, keys are printed out of order"},
				},
				Action: func(c *cli.Context) error {
					ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
					defer stop()
					w := bufio.NewWriter(os.Stdout)
					st, err := workload.Run(ctx, workload.Options{
						Dir: c.String("dir"), Txns: c.Int("txns"), Duration: c.Duration("duration"),
						ValueSize: c.Int("value-size"), LogFileSize: c.Int("log-size"),
						CheckpointEvery: c.Int("checkpoint-every"), AutoRemoveLogs: c.Bool("auto-remove"), Start: c.Int("start"), NoRecover: c.Bool("no-recover"), KeySpace: c.Int("key-space"),
						Threads: c.Int("threads"),
					}, w)
					w.Flush()
					b, _ := json.Marshal(st)
					fmt.Fprintf(os.Stderr, "workload: %s\n", b)
					return err
				},
			},
			{
				Name:  "check",
				Usage: "check that every acknowledged key (read from --acked) is in the environment",
				Flags: []cli.Flag{
					dirFlag,
					&cli.StringFlag{Name: "acked", Required: true, Usage: "file of acknowledged keys, as printed by run", TakesFile: true},
					&cli.IntFlag{Name: "value-size", Value: 256, Usage: "bytes per value"},
				},
				Action: func(c *cli.Context) error {
					f, err := os.Open(c.String("acked"))
					if err != nil {
						return err
					}
					defer f.Close()
					acked, err := workload.ReadAcked(f)
					if err != nil {
						return err
					}
					res, err := workload.Check(workload.Options{Dir: c.String("dir"), ValueSize: c.Int("value-size")}, acked, true)
					if err != nil {
						return err
					}
					b, _ := json.Marshal(res)
					fmt.Fprintln(c.App.Writer, string(b))
					if res.Lost > 0 || res.Wrong > 0 {
						return fmt.Errorf("%d acknowledged commits lost, %d wrong", res.Lost, res.Wrong)
					}
					return nil
				},
			},
		}...),
	}
}
