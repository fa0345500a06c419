package main

import (
	"fmt"
	"path"
	"strings"

	"github.com/mirrorctl/mirrorctl/mirror"
	"github.com/urfave/cli/v2"
)

// excludeFlag is --exclude, shared by the commands that walk an environment.
var excludeFlag = &cli.StringSliceFlag{
	Name:  "exclude",
	Usage: "do not mirror files matching `GLOB` (base name, or relative path if it has a slash); repeatable",
}

// policyFor is the mirroring policy: everything but the engine's region files and --exclude globs.
func policyFor(c *cli.Context) (*mirror.Exclusions, error) {
	p, err := mirror.NewExclusions(c.StringSlice("exclude"), func(rel string) bool {
		return strings.HasPrefix(path.Base(rel), "__db.") // TODO engine
	})
	if err != nil {
		return nil, usageError("%v", err)
	}
	return p, nil
}

func requireDir(c *cli.Context, name string) (string, error) {
	v := c.String(name)
	if v == "" {
		return "", usageError("--%s DIR is required", name)
	}
	return v, nil
}

var _ = fmt.Sprint
