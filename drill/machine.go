package drill

// --lose machine: both disks die with the mount process, as when the machine burns; the environment
// is restored from the object store (a versitygw the drill runs on loopback, its directory outside
// both disks) onto a fresh directory, and every acknowledged commit is checked there. Commits may be
// lost, but only those acknowledged after the archive's last push began: at most one archive
// interval's worth, counted (Result.AtRisk).

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mirrorctl/mirrorctl/internal/versitygw"
	"github.com/mirrorctl/mirrorctl/loopdisk"
)

// LoseMachine is --lose machine.
const LoseMachine = "machine"

// ParseLose reads --lose: "" (the fault of --kill) or machine.
func ParseLose(s string) (string, error) {
	if s == "" || s == LoseMachine {
		return s, nil
	}
	return "", fmt.Errorf("--lose %q: the one loss the drill knows is machine (both disks, restored from the object store)", s)
}

const (
	drillBucket = "drill"
	drillAccess = "mirrorctldrill"
	drillSecret = "mirrorctl-drill-secret-0123456789"
)

// objectStore is the drill's versitygw and how the mount and restore reach it.
type objectStore struct {
	proc     *versitygw.Process
	endpoint string
	url      string
	env      []string
}

// startObjectStore starts versitygw over base/objects (on neither disk) and creates the bucket.
func (d *drill) startObjectStore(ctx context.Context) error {
	addr, err := versitygw.FreeAddr()
	if err != nil {
		return err
	}
	dir := filepath.Join(d.base, "objects")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	p, err := versitygw.Start(ctx, versitygw.Config{Binary: d.gateway, Addr: addr, Dir: dir, AccessKey: drillAccess, SecretKey: drillSecret})
	if err != nil {
		return err
	}
	d.later(p.Stop)
	if err := p.MakeBucket(ctx, drillBucket); err != nil {
		return err
	}
	d.store = &objectStore{proc: p, endpoint: "http://" + addr, url: "s3://" + drillBucket + "/env",
		env: []string{"AWS_ACCESS_KEY_ID=" + drillAccess, "AWS_SECRET_ACCESS_KEY=" + drillSecret, "AWS_REGION=us-east-1"}}
	d.o.Say("object store: versitygw at %s, archive %s every %s", d.store.endpoint, d.store.url, d.o.archiveInterval())
	return nil
}

// archiveFlags are the mount's flags for the object store.
func (d *drill) archiveFlags() []string {
	return []string{"--archive", d.store.url, "--s3-endpoint", d.store.endpoint, "--archive-interval", d.o.archiveInterval().String()}
}

func (o Options) archiveInterval() time.Duration {
	if o.ArchiveInterval > 0 {
		return o.ArchiveInterval
	}
	return time.Second
}

// loseMachine notes when the archive's last push began, then kills the mount process and both
// disks at once, and counts the commits acknowledged after that push began: the most that may be lost.
func (d *drill) loseMachine(ctx context.Context) error {
	type status struct {
		Archive *struct {
			LastPush time.Time `json:"last_push"`
		} `json:"archive"`
	}
	st, err := runChildJSON[status](ctx, d.o.Binary, "status", "--json", d.mp)
	if err != nil {
		return fmt.Errorf("status of the mount before the loss: %w", err)
	}
	if st.Archive == nil || st.Archive.LastPush.IsZero() {
		return fmt.Errorf("the archive held nothing after %s of workload: see %s", d.o.Duration, filepath.Join(d.base, "mount.log"))
	}
	d.res.Failure = "the machine was lost: the mount process killed (SIGKILL) and both disks dead under load"
	at := d.commits.Load()
	if err := d.mount.Cmd().Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	for _, disk := range []*loopdisk.Disk{d.primaryDisk, d.mirrorDisk} {
		if disk == nil { // the disks are directories: the killed mount is the loss
			continue
		}
		if err := disk.Shutdown(); err != nil {
			return err
		}
	}
	d.o.Say("%s after %d acknowledged commits", d.res.Failure, at)
	_ = d.waitWorkload(30 * time.Second)
	d.res.Acknowledged = int(d.commits.Load())
	if err := d.acked.Sync(); err != nil {
		return err
	}
	d.res.AtRisk = d.acksSince(st.Archive.LastPush)
	d.mount.Stop(30 * time.Second)
	return nil
}

// restoreFromStore restores the archive onto a fresh directory, timing it, and checks every
// acknowledged commit there.
func (d *drill) restoreFromStore(ctx context.Context) error {
	target := filepath.Join(d.base, "disk3", "env")
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	d.o.Say("restoring %s onto %s", d.store.url, target)
	start := time.Now()
	type report struct {
		Snapshot string `json:"snapshot"`
	}
	if _, err := runChildJSONEnv[report](ctx, d.store.env, d.o.Binary, "restore", "--json", "--from", d.store.url, "--to", target, "--s3-endpoint", d.store.endpoint); err != nil {
		return fmt.Errorf("restore from the object store: %w", err)
	}
	d.res.RestoreTime = time.Since(start)
	d.res.Checked = "restored from the object store"
	return d.check(ctx, target)
}

// acksSince counts the commits acknowledged at or after t.
func (d *drill) acksSince(t time.Time) int {
	d.ackMu.Lock()
	defer d.ackMu.Unlock()
	n := 0
	for _, at := range d.ackTimes {
		if !at.Before(t) {
			n++
		}
	}
	return n
}
