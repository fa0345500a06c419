package main

import (
	"context"

	"github.com/mirrorctl/mirrorctl/engine"
	"github.com/mirrorctl/mirrorctl/mirror"
	"github.com/urfave/cli/v2"
)

// excludeFlag is --exclude, shared by the commands that walk an environment.
var excludeFlag = &cli.StringSliceFlag{
	Name:  "exclude",
	Usage: "do not mirror files matching `GLOB` (base name, or relative path if it has a slash); repeatable",
}

// retainFlag is --retain-logs.
var retainFlag = &cli.StringFlag{
	Name:  "retain-logs",
	Value: "all",
	Usage: "how long the mirror keeps log files the primary removed: all, a count (20), a size (10GiB) or an age (72h, 7d); logs normal recovery needs are always kept",
}

// policyFor is the mirroring policy: everything but the engine's region files and --exclude globs.
func policyFor(c *cli.Context, eng engine.Engine) (*mirror.Exclusions, error) {
	p, err := mirror.NewExclusions(c.StringSlice("exclude"), func(rel string) bool {
		return eng.Classify(rel) == engine.ClassRegion
	})
	if err != nil {
		return nil, usageError("%v", err)
	}
	return p, nil
}

// mirrorOptions are the core's options for an engine: its logs and the retention policy.
func mirrorOptions(c *cli.Context, eng engine.Engine, mirrorDir string) (mirror.Options, error) {
	ret, err := mirror.ParseRetention(c.String("retain-logs"))
	if err != nil {
		return mirror.Options{}, usageError("%v", err)
	}
	return mirror.Options{
		Logs:      eng.LogNumber,
		Retention: ret,
		NeededFrom: func(ctx context.Context) (uint32, error) {
			tail, err := eng.Tail(ctx, mirrorDir)
			return tail.Start.File, err // on an error the core keeps every log
		},
	}, nil
}

func requireDir(c *cli.Context, name string) (string, error) {
	v := c.String(name)
	if v == "" {
		return "", usageError("--%s DIR is required", name)
	}
	return v, nil
}

// pairSetup is what mount, sync and verify all start from: the checked pair, the engine, its
// mirroring policy and the core's options for it.
type pairSetup struct {
	eng    engine.Engine
	policy *mirror.Exclusions
	pair   mirror.Pair
	opts   mirror.Options
}

// newPairSetup reads --primary, --mirror, --exclude, --retain-logs and --bdb-utils and checks them
// before anything is written.
func newPairSetup(c *cli.Context) (pairSetup, error) {
	var s pairSetup
	primary, err := requireDir(c, "primary")
	if err != nil {
		return s, err
	}
	target, err := requireDir(c, "mirror")
	if err != nil {
		return s, err
	}
	if s.eng, err = engineFor(c); err != nil {
		return s, err
	}
	if s.policy, err = policyFor(c, s.eng); err != nil {
		return s, err
	}
	if s.pair, err = mirror.CheckPair(primary, target); err != nil {
		return s, err
	}
	s.opts, err = mirrorOptions(c, s.eng, s.pair.Mirror)
	return s, err
}
