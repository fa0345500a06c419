package drill

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mirrorctl/mirrorctl/meta"
)

// Check refuses options a drill cannot run with, before anything is made.
func (o Options) Check() error {
	if o.Duration <= 0 {
		return fmt.Errorf("--duration %s: give a positive duration, e.g. --duration 8s", o.Duration)
	}
	if o.ValueSize <= 0 {
		return fmt.Errorf("--value-size %d: give a positive number of bytes, e.g. --value-size 256", o.ValueSize)
	}
	if _, err := ParseLose(o.Lose); err != nil {
		return err
	}
	if o.NoDowntime && o.Lose != "" {
		return fmt.Errorf("--no-downtime does not go with --lose: the one keeps the machine, the other loses it")
	}
	if o.NoDowntime && o.Fault != FaultAuto && o.Fault != FaultDisk && o.Fault != FaultFailover {
		return fmt.Errorf("--no-downtime drills the primary disk's death: leave --kill out (or give --kill disk)")
	}
	return o.checkWorkload()
}

// makeScratch makes the drill's scratch directory: a new directory inside dir ("": the system's
// temporary directory), and dir itself if it does not exist. remove deletes the scratch directory and
// the directories makeScratch made for dir, and nothing else: what was in dir before stays.
func makeScratch(dir string) (base string, remove func(), err error) {
	var made []string // the directories of dir's path that did not exist, deepest last
	if dir != "" {
		for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
			if _, err := os.Lstat(p); err == nil {
				break
			} else if !errors.Is(err, fs.ErrNotExist) {
				return "", nil, meta.Explain(err)
			}
			made = append([]string{p}, made...)
			if filepath.Dir(p) == p {
				break
			}
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, meta.Explain(err)
		}
	}
	removeMade := func() {
		for i := len(made) - 1; i >= 0; i-- {
			_ = os.Remove(made[i]) // only when empty: something put there since is kept
		}
	}
	if base, err = os.MkdirTemp(dir, "mirrorctl-drill-"); err != nil {
		removeMade()
		return "", nil, meta.Explain(err)
	}
	return base, func() { _ = os.RemoveAll(base); removeMade() }, nil
}
