package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// archiveManifest is what these tests read of archive list --json.
type archiveManifest struct {
	Snapshots []struct {
		ID       string
		Done     time.Time
		FirstLog uint32 `json:"first_log"`
	}
	Logs []struct {
		Number uint32
		Sealed bool
	}
}

func (c *archiveCase) manifest(t *testing.T) archiveManifest {
	t.Helper()
	r := mirrorctlEnv(t, c.srv.Env(), "archive", "list", "--json", "--s3-endpoint", c.srv.Endpoint(), c.url)
	var m archiveManifest
	if err := json.Unmarshal([]byte(r.Stdout), &m); err != nil || len(m.Snapshots) == 0 {
		t.Fatalf("archive list --json: %v: %s", err, r)
	}
	return m
}

// checkNoStaleParts fails unless every part of a log in the bucket is one of the newest (open) log.
func (c *archiveCase) checkNoStaleParts(t *testing.T) {
	t.Helper()
	m := c.manifest(t)
	newest := m.Logs[len(m.Logs)-1].Number
	for _, o := range c.objects(t, "logs") {
		var n uint32
		fmt.Sscanf(filepath.Base(o), "log.%d", &n)
		if strings.Contains(o, ".part.") && n != newest {
			t.Errorf("%s: a part of a sealed log is still in the bucket", o)
		}
	}
}

func (c *archiveCase) prune(t *testing.T, args ...string) result {
	t.Helper()
	return mirrorctlEnv(t, c.srv.Env(), append(append([]string{"archive", "prune", "--s3-endpoint", c.srv.Endpoint()}, args...), c.url)...)
}

// objects lists the archive's object names below dir (relative to the prefix).
func (c *archiveCase) objects(t *testing.T, dir string) []string {
	t.Helper()
	root := filepath.Join(c.srv.BucketDir(), "env", "prod")
	var out []string
	filepath.Walk(filepath.Join(root, dir), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// TestArchive_PruneKeepsWhatTheOldestKeptSnapshotNeeds: three snapshots of a mirror kept by a mount
// (so a later snapshot needs fewer logs); a dry run deletes nothing; a prune keeping two drops the
// first snapshot's files, the logs only it needed, the parts of sealed logs and the old manifests;
// a restore to a moment after the oldest kept snapshot holds exactly the commits up to it, and a
// restore of the newest state holds every commit.
func TestArchive_PruneKeepsWhatTheOldestKeptSnapshotNeeds(t *testing.T) {
	needFUSE(t)
	c := newArchiveCase(t)
	primary, mirrorDir, mp := dirs(t)
	c.primary, c.mirror = primary, mirrorDir
	m := startMount(t, primary, mirrorDir, mp)
	ledgers := map[string]string{}
	run := func(name string, start, n int) {
		ledgers[name] = filepath.Join(c.base, "acked-"+name)
		workloadRun(t, mp, ledgers[name], "--txns", fmt.Sprint(n), "--start", fmt.Sprint(start), "--log-size", "65536", "--checkpoint-every", "50")
	}
	run("a", 0, 150)
	c.mustPush(t)
	run("b", 150, 300)
	c.mustPush(t, "--snapshot-every", "32KiB")
	moment := time.Now().Truncate(time.Second).Add(time.Second)
	waitPast(moment.Add(time.Second))
	run("c", 450, 300)
	c.mustPush(t, "--snapshot-every", "32KiB")
	run("d", 750, 20) // the open log's bytes, as a part
	c.mustPush(t)
	m.Stop(t)
	before := c.manifest(t)
	if len(before.Snapshots) != 3 || before.Snapshots[1].FirstLog <= before.Snapshots[0].FirstLog {
		t.Fatalf("want three snapshots, the second needing fewer logs than the first: %+v", before.Snapshots)
	}
	if !before.Snapshots[1].Done.Before(moment) {
		t.Fatalf("the second snapshot ended at %s, after the moment %s", before.Snapshots[1].Done, moment)
	}

	// Without a rule, only what the newest manifest no longer needs goes: old manifests, parts of
	// logs since sealed.
	if r := c.prune(t); r.Code != 0 || !strings.Contains(r.Stdout, "3 snapshots kept, 0 dropped") {
		t.Fatalf("prune without a rule: %s", r)
	}
	if got := c.manifest(t); len(got.Snapshots) != 3 || len(got.Logs) != len(before.Logs) {
		t.Fatalf("a prune without a rule dropped something: %+v", got)
	}
	c.checkNoStaleParts(t)
	if ms := c.objects(t, "manifests"); len(ms) > 3 {
		t.Fatalf("after a prune, %d manifests are in the bucket: %v", len(ms), ms)
	}
	tree := treeSnapshot(t, c.srv.BucketDir())
	if r := c.prune(t, "--archive-keep-snapshots", "2", "--dry-run"); r.Code != 0 || !strings.Contains(r.Stdout, "1 dropped") || !strings.Contains(r.Stdout, "would delete") {
		t.Fatalf("prune --dry-run: %s", r)
	}
	if !equalTrees(tree, treeSnapshot(t, c.srv.BucketDir())) {
		t.Fatal("prune --dry-run changed the bucket")
	}
	// An upload a push abandoned, begun after the newest manifest (so that a prune leaves it: a push
	// could be uploading it) and before the one the next prune writes: the prune after that one
	// aborts it.
	if _, err := (minio.Core{Client: c.srv.Client()}).NewMultipartUpload(context.Background(), c.srv.Bucket, "env/prod/snapshots/20200101T000000.000000000Z/accounts.db", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPast(time.Now().Add(1100 * time.Millisecond)) // the server lists its initiation to the second
	if r := c.prune(t, "--archive-keep-snapshots", "2"); r.Code != 0 || !strings.Contains(r.Stdout, "2 snapshots kept, 1 dropped") {
		t.Fatalf("prune: %s", r)
	}
	after := c.manifest(t)
	if len(after.Snapshots) != 2 || after.Snapshots[0].ID != before.Snapshots[1].ID || after.Logs[0].Number != before.Snapshots[1].FirstLog {
		t.Fatalf("after the prune: want snapshots from %s and logs from %d: %+v", before.Snapshots[1].ID, before.Snapshots[1].FirstLog, after)
	}
	if got := c.objects(t, filepath.Join("snapshots", before.Snapshots[0].ID)); len(got) != 0 {
		t.Fatalf("the dropped snapshot's files are still in the bucket: %v", got)
	}
	for _, o := range c.objects(t, "logs") {
		var n uint32
		fmt.Sscanf(filepath.Base(o), "log.%d", &n)
		if n < after.Logs[0].Number {
			t.Errorf("%s: a log only the dropped snapshot needed is still in the bucket", o)
		}
	}
	c.checkNoStaleParts(t)
	if ms := c.objects(t, "manifests"); len(ms) != 1 {
		t.Errorf("after a prune that dropped a snapshot, want its manifest alone: %v", ms)
	}
	// A second prune deletes nothing, and says what the bucket holds: every object, to the byte.
	r := c.prune(t, "--archive-keep-snapshots", "2", "--json")
	var rep struct {
		Objects        int   `json:"objects"`
		KeptObjects    int   `json:"kept_objects"`
		KeptBytes      int64 `json:"kept_bytes"`
		AbortedUploads int   `json:"aborted_uploads"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil || r.Code != 0 || rep.Objects != 0 {
		t.Fatalf("a second prune found something to delete: %v: %s", err, r)
	}
	if left := heldParts(t, c.srv, "env/prod/"); rep.AbortedUploads != 1 || len(left) != 0 {
		t.Fatalf("the prune aborted %d abandoned uploads, want 1; incomplete uploads left: %v", rep.AbortedUploads, left)
	}
	if total, objs := bucketBytes(t, c.srv, "env/prod/"); rep.KeptBytes != total || rep.KeptObjects != len(objs) {
		t.Fatalf("the prune says it kept %d objects (%d bytes), the bucket holds %d (%d bytes)", rep.KeptObjects, rep.KeptBytes, len(objs), total)
	}

	t.Run("to a moment after the oldest kept snapshot", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "restored")
		r := c.restore(t, c.url, dir, "--time", moment.UTC().Format(time.RFC3339), "--json")
		if r.Code != 0 || !strings.Contains(r.Stdout, `"snapshot": "`+after.Snapshots[0].ID+`"`) {
			t.Fatalf("restore --time %s: want snapshot %s: %s", moment, after.Snapshots[0].ID, r)
		}
		for name, want := range map[string]bool{"a": true, "b": true, "c": false, "d": false} {
			got := ledger(t, dir, ledgers[name])
			if (want && got.Found != got.Acked) || (!want && got.Found != 0) {
				t.Errorf("ledger %s (committed before the moment: %v): %+v", name, want, got)
			}
		}
		dbVerify(t, dir)
	})
	t.Run("newest", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "restored")
		if r := c.restore(t, c.url, dir); r.Code != 0 {
			t.Fatalf("restore: %s", r)
		}
		for name, f := range ledgers {
			if got := ledger(t, dir, f); got.Found != got.Acked {
				t.Errorf("ledger %s: %+v", name, got)
			}
		}
		dbVerify(t, dir)
	})
}

// TestArchive_PruneUsageErrors: prune with a bad rule is a usage error.
func TestArchive_PruneUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{args: []string{"archive", "prune", "--archive-keep-age", "soon", "s3://b/p"}, want: "is not a duration above zero"},
		{args: []string{"archive", "prune", "--archive-keep-snapshots", "-1", "s3://b/p"}, want: "is not a count"},
	} {
		r := mirrorctl(t, tc.args...)
		if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%v: want exit 2 with %q: %s", tc.args, tc.want, r)
		}
	}
}

// TestMount_ArchivePrunes: a mount with --archive-keep-snapshots 1 takes snapshots by log volume and
// prunes as it goes and at unmount: the bucket holds one snapshot, a few manifests, and a restore of
// it holds every commit.
func TestMount_ArchivePrunes(t *testing.T) {
	needFUSE(t)
	c := newArchiveCase(t)
	m, mp := c.mount(t, "--snapshot-every", "64KiB", "--archive-keep-snapshots", "1", "--metrics-addr", ":0")
	found := metricsURL.FindStringSubmatch(m.Output())
	if found == nil {
		t.Fatalf("the mount does not say where its metrics are:\n%s", m.Output())
	}
	workloadRun(t, mp, c.acked, "--txns", "400", "--log-size", "65536", "--checkpoint-every", "50")
	// The prunes after the pushes show in the metrics: snapshots dropped, bytes deleted and kept.
	eventually(t, time.Minute, "the metrics to show a prune that dropped a snapshot", func() bool {
		got := scrape(t, found[1])
		return got.get(t, "mirrorctl_archive_prunes_total") >= 1 && got.get(t, "mirrorctl_archive_pruned_snapshots_total") >= 1 &&
			got.get(t, "mirrorctl_archive_pruned_bytes_total") > 0 && got.get(t, "mirrorctl_archive_kept_bytes") > 0 &&
			got.get(t, "mirrorctl_archive_last_prune_timestamp_seconds") > 0
	})
	m.Stop(t)
	got := c.manifest(t)
	if len(got.Snapshots) != 1 || got.Logs[0].Number != got.Snapshots[0].FirstLog || got.Snapshots[0].FirstLog <= 1 {
		t.Fatalf("after a mount keeping one snapshot: %+v", got)
	}
	if ms := c.objects(t, "manifests"); len(ms) > 3 {
		t.Fatalf("after the mount's last prune, %d manifests are in the bucket: %v", len(ms), ms)
	}
	c.restoreAll(t, "restore", 400)
}

// TestArchive_SnapshotsByTime: with --snapshot-interval, a push takes a new snapshot once that long
// passed since the newest one, only if the mirror changed since; not before, and not on an idle mirror.
func TestArchive_SnapshotsByTime(t *testing.T) {
	c := newArchiveCase(t)
	c.commit(t, 0, 50, c.acked)
	c.mustPush(t)
	first := c.manifest(t).Snapshots[0]
	waitPast(first.Done.Add(1100 * time.Millisecond))
	if r := c.mustPush(t, "--snapshot-interval", "1s"); !strings.Contains(r.Stdout, "up to date") {
		t.Fatalf("a push of an idle mirror took something: %s", r)
	}
	c.commit(t, 50, 50, c.acked)
	if r := c.mustPush(t, "--snapshot-interval", "1h"); strings.Contains(r.Stdout, "snapshot ") {
		t.Fatalf("a push before the interval passed took a snapshot: %s", r)
	}
	c.commit(t, 100, 50, c.acked)
	if r := c.mustPush(t, "--snapshot-interval", "1s"); !strings.Contains(r.Stdout, "snapshot ") {
		t.Fatalf("a push after the interval, of a changed mirror, took no snapshot: %s", r)
	}
	if n := len(c.manifest(t).Snapshots); n != 2 {
		t.Fatalf("want two snapshots, the archive has %d", n)
	}
	if r := mirrorctl(t, "archive", "push", "--mirror", c.mirror, "--snapshot-interval", "often", c.url); r.Code != 2 || !strings.Contains(r.Stderr, "is not a duration above zero") {
		t.Fatalf("a bad --snapshot-interval: %s", r)
	}
	c.restoreAll(t, "restore", 150)
}
