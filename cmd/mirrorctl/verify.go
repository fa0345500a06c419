package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mirrorctl/mirrorctl/meta"
	"github.com/mirrorctl/mirrorctl/mirror"
	"github.com/urfave/cli/v2"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "compare every mirrored file of primary and mirror; exit 0 only if they match",
		Description: "Run it while no mount serves the pair (or on a quiet environment): files that change during the\n" +
			"comparison show up as differences. Exit status 1 when anything differs, or when the metadata of\n" +
			"the pair (.mirrorctl/mirror.json, identity.json, degraded.json) is corrupt.\n\n" +
			examples("mirrorctl verify --primary /disk1/env --mirror /disk2/env", "compare content, names, sizes and modes",
				"mirrorctl verify --primary /disk1/env --mirror /disk2/env --json", "the differences as JSON"),
		Flags: []cli.Flag{
			primaryFlag, mirrorFlag, excludeFlag, retainFlag, bdbUtilsFlag,
			&cli.BoolFlag{Name: "json", Usage: "print the differences as JSON"},
		},
		Action: runVerify,
	}
}

// readableMeta reads what mirrorctl keeps about the pair (the mirror's record, the primary's identity
// and degraded marker): a pair whose metadata is corrupt does not match, however equal its files are,
// since the next mount, sync or promote would refuse it or misread it.
func readableMeta(primary, target string) error {
	if _, _, err := meta.ReadRecord(target); err != nil {
		return err
	}
	if _, _, err := meta.ReadIdentity(primary); err != nil {
		return err
	}
	_, _, err := meta.ReadDegraded(primary)
	return err
}

func runVerify(c *cli.Context) error {
	if c.NArg() != 0 {
		return usageError("verify takes no arguments: mirrorctl verify --primary DIR --mirror DIR")
	}
	ps, err := newPairSetup(c)
	if err != nil {
		return err
	}
	policy, pair, mo := ps.policy, ps.pair, ps.opts
	if !pair.MirrorExists {
		return fmt.Errorf("mirror %s does not exist: run mirrorctl sync or mount first", pair.Mirror)
	}
	if err := readableMeta(pair.Primary, pair.Mirror); err != nil {
		return err
	}
	m, err := mirror.Open(pair.Primary, pair.Mirror, policy, mo)
	if err != nil {
		return err
	}
	defer m.Close()
	diffs, err := m.Verify(c.Context, mirror.VerifyOptions{})
	if err != nil {
		return err
	}
	out := c.App.Writer
	if c.Bool("json") {
		if diffs == nil {
			diffs = []mirror.Difference{}
		}
		if err := json.NewEncoder(out).Encode(map[string]any{"match": len(diffs) == 0, "differences": diffs}); err != nil {
			return err
		}
	} else {
		for _, d := range diffs {
			fmt.Fprintln(out, d)
		}
	}
	if len(diffs) > 0 {
		return errors.New(fmt.Sprintf("mirror %s differs from %s in %d places: run mirrorctl sync to repair it (or remount)", pair.Mirror, pair.Primary, len(diffs)))
	}
	if !c.Bool("json") {
		fmt.Fprintf(out, "mirror %s matches %s\n", pair.Mirror, pair.Primary)
	}
	return nil
}
