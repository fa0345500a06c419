package drill

// The no-downtime drill (--no-downtime): the mount runs with --on-primary-error=failover and the
// engine's regions in a directory of their own; the primary's disk dies under load; the application
// must go on committing without an error, a new mirror is attached while it does, and every
// acknowledged commit must be on the mirror that took over. The table shows the longest pause the
// application saw between two acknowledged commits around the switch.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// noDowntimeExtra is the mount's flags for the no-downtime drill.
func (d *drill) noDowntimeExtra() []string {
	return []string{"--on-primary-error=failover", "--rebuilt-files-dir", filepath.Join(d.base, "regions"), "--resync-interval", "0"}
}

// failover kills the primary's disk under load and follows the switch: the application keeps
// committing, status says primary-lost, a new mirror is attached and filled while it commits, then
// the application and the mount stop cleanly.
func (d *drill) failover(ctx context.Context) error {
	if d.primaryDisk == nil {
		return fmt.Errorf("--no-downtime needs loop-backed xfs file systems, to kill the primary's disk")
	}
	at := d.commits.Load()
	d.res.Failure = "the primary disk died (xfs shutdown) under load; the mount switched to the mirror"
	killed := time.Now()
	if err := d.primaryDisk.Shutdown(); err != nil {
		return err
	}
	d.o.Say("the primary disk died after %d acknowledged commits; the application goes on", at)
	if err := d.waitState(ctx, "primary-lost", at, 50); err != nil {
		return err
	}
	d.o.Say("the mirror serves alone; attaching a new mirror while the application commits")
	newMirror := filepath.Join(d.base, "disk3", "env")
	if err := os.MkdirAll(filepath.Dir(newMirror), 0o755); err != nil {
		return err
	}
	start := time.Now()
	if _, err := runChildJSON[map[string]any](ctx, d.o.Binary, "attach-mirror", "--json", "--no-progress", d.mp, newMirror); err != nil {
		return fmt.Errorf("attach-mirror: %w", err)
	}
	d.res.ResyncTime = time.Since(start)
	if err := d.waitState(ctx, "serving", d.commits.Load(), 50); err != nil {
		return err
	}
	if err := d.stopWorkload(); err != nil {
		return fmt.Errorf("the application did not run on to a clean stop through the primary's death: %s", d.res.WorkloadEnd)
	}
	d.res.Acknowledged = int(d.commits.Load())
	d.res.LongestPause = d.longestPauseAfter(killed.Add(-time.Second))
	if err := d.acked.Sync(); err != nil {
		return err
	}
	d.mount.Stop(30 * time.Second)
	// Verified before the check, which opens the databases (an engine may tidy up at its close).
	if err := d.verify(ctx, d.mirror, newMirror); err != nil {
		return fmt.Errorf("the attached mirror: %w", err)
	}
	d.res.Checked = "the mirror that took over"
	return d.check(ctx, d.mirror)
}

// waitState waits until status says state and the application committed more times than at,
// failing if the application stops meanwhile: the fault must not reach it.
func (d *drill) waitState(ctx context.Context, state string, at, more int64) error {
	deadline := time.Now().Add(time.Minute)
	seen := false
	for !seen || d.commits.Load() < at+more {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d commits after the fault, state %s seen=%v, one minute later: the mount did not turn %s or the application stalled", d.commits.Load()-at, state, seen, state)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-d.workloadDone:
			d.workloadDone <- err
			_ = d.waitWorkload(0)
			return fmt.Errorf("the application failed although the other disk could serve: %s", d.res.WorkloadEnd)
		case <-time.After(100 * time.Millisecond):
		}
		if !seen {
			st, _ := runChildJSON[struct{ State string }](ctx, d.o.Binary, "status", "--json", d.mp)
			seen = st.State == state
		}
	}
	return nil
}

// longestPauseAfter is the longest time between two acknowledged commits from t on.
func (d *drill) longestPauseAfter(t time.Time) time.Duration {
	d.ackMu.Lock()
	defer d.ackMu.Unlock()
	var longest time.Duration
	for i := 1; i < len(d.ackTimes); i++ {
		if d.ackTimes[i].Before(t) {
			continue
		}
		longest = max(longest, d.ackTimes[i].Sub(d.ackTimes[i-1]))
	}
	return longest
}
