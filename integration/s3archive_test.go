package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"strings"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/internal/s3server"
)

// These tests run the archive against a real S3-compatible server (versitygw over a POSIX directory,
// started on loopback by package s3server) and the real Berkeley DB: commits are made by the
// workload, which writes a ledger of the acknowledged ones, and checked after a restore.

// mirrorctlEnvDir is mirrorctlEnv run in the working directory dir ("": the test's).
func mirrorctlEnvDir(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	return runMirrorctl(t, 5*time.Minute, dir, env, args...)
}

// archiveCase is an environment, its mirror kept by sync, and an archive location on a running server.
type archiveCase struct {
	srv                    *s3server.Server
	primary, mirror, acked string
	url                    string // s3://bucket/prefix
	base                   string
}

func newArchiveCase(t *testing.T) *archiveCase {
	t.Helper()
	needBDB(t)
	srv := s3server.Start(t, "backups")
	base := t.TempDir()
	c := &archiveCase{srv: srv, base: base, primary: filepath.Join(base, "primary"), mirror: filepath.Join(base, "mirror"),
		acked: filepath.Join(base, "acked"), url: "s3://backups/env/prod"}
	if err := os.Mkdir(c.primary, 0o755); err != nil {
		t.Fatal(err)
	}
	return c
}

// commit runs the workload for n commits from key start and syncs the mirror.
func (c *archiveCase) commit(t *testing.T, start, n int, ackedFile string) []int {
	t.Helper()
	keys := workloadRun(t, c.primary, ackedFile, "--txns", strconv.Itoa(n), "--start", strconv.Itoa(start), "--log-size", "65536", "--checkpoint-every", "50")
	mustRun(t, "sync", "--primary", c.primary, "--mirror", c.mirror)
	return keys
}

func (c *archiveCase) push(t *testing.T, extra ...string) result {
	t.Helper()
	args := append(append([]string{"archive", "push", "--mirror", c.mirror, "--s3-endpoint", c.srv.Endpoint()}, extra...), c.url)
	return mirrorctlEnv(t, c.srv.Env(), args...)
}

func (c *archiveCase) mustPush(t *testing.T, extra ...string) result {
	t.Helper()
	r := c.push(t, extra...)
	if r.Code != 0 {
		t.Fatalf("archive push: %s", r)
	}
	return r
}

// restore runs mirrorctl restore from the archive (or from the local mirror with local) into dir.
// mount serves a new primary with --archive to the case's server, pushing every 100 ms; the case's
// primary and mirror become the mount's.
func (c *archiveCase) mount(t *testing.T, extra ...string) (*Mount, string) {
	t.Helper()
	primary, mirrorDir, mp := dirs(t)
	c.primary, c.mirror = primary, mirrorDir
	args := append([]string{"--archive", c.url, "--s3-endpoint", c.srv.Endpoint(), "--archive-interval", "100ms"}, extra...)
	m, err := tryMountEnv(t, c.srv.Env(), primary, mirrorDir, mp, args...)
	if err != nil {
		t.Fatal(err)
	}
	return m, mp
}

// restoreAll restores the newest state from the archive into a new directory and requires want
// commits of the ledger there; what names the restore in a failure.
func (c *archiveCase) restoreAll(t *testing.T, what string, want int) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "restored")
	if r := c.restore(t, c.url, dir); r.Code != 0 {
		t.Fatalf("%s: %s", what, r)
	}
	if got := workloadCheck(t, dir, c.acked); got.Found != want {
		t.Fatalf("%s: restored %d of %d commits", what, got.Found, want)
	}
}

func (c *archiveCase) restore(t *testing.T, from, dir string, extra ...string) result {
	t.Helper()
	args := append([]string{"restore", "--from", from, "--to", dir, "--s3-endpoint", c.srv.Endpoint()}, extra...)
	return mirrorctlEnv(t, c.srv.Env(), args...)
}

// ledger checks the keys of ackedFile in dir without failing on losses: the count found and lost.
func ledger(t *testing.T, dir, ackedFile string) checkResult {
	t.Helper()
	r := mirrorctl(t, "workload", "check", "--dir", dir, "--acked", ackedFile)
	var res checkResult
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &res); err != nil {
		t.Fatalf("workload check: %s", r)
	}
	if res.Acked == 0 {
		t.Fatal("the ledger is empty: the test proves nothing")
	}
	return res
}

// TestArchive_PushThenRestoreHoldsEveryCommit: a snapshot, then logs sealed and the open log's bytes
// pushed later; a restore from the archive, and one from the local mirror, hold every commit of the
// ledger, with databases that verify. A push with nothing new writes no manifest.
func TestArchive_PushThenRestoreHoldsEveryCommit(t *testing.T) {
	c := newArchiveCase(t)
	c.commit(t, 0, 150, c.acked)
	c.mustPush(t)
	c.commit(t, 150, 300, c.acked) // several more logs: sealed ones after the snapshot
	c.mustPush(t)
	if r := c.push(t); r.Code != 0 || !strings.Contains(r.Stdout, "up to date") {
		t.Fatalf("a push with nothing new: %s", r)
	}
	list := mirrorctlEnv(t, c.srv.Env(), "archive", "list", "--s3-endpoint", c.srv.Endpoint(), c.url)
	if list.Code != 0 || !strings.Contains(list.Stdout, "generation 2") || strings.Count(list.Stdout, "needs logs from") != 1 {
		t.Fatalf("archive list after two pushes: %s", list)
	}
	// A few commits more, in the same open log: the push sends only the bytes it gained, as a part.
	before := c.openLog(t)
	c.commit(t, 450, 3, c.acked)
	c.mustPush(t)
	if after := c.openLog(t); after.Number == before.Number && len(after.Parts) != len(before.Parts)+1 {
		t.Fatalf("open log %d had %d parts, %d after a push of its new bytes", after.Number, len(before.Parts), len(after.Parts))
	} else if after.Number != before.Number {
		t.Logf("the commits started log %d: no second part to check this time", after.Number)
	}
	for _, from := range []string{c.url, c.mirror} {
		t.Run(filepath.Base(from), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "restored")
			r := c.restore(t, from, dir)
			if r.Code != 0 || !strings.Contains(r.Stdout, "databases verified") || !strings.Contains(r.Stdout, "last commit 20") {
				t.Fatalf("restore: %s", r)
			}
			got := workloadCheck(t, dir, c.acked)
			if got.Found != 453 {
				t.Fatalf("restored %d of 453 commits", got.Found)
			}
			dbVerify(t, dir)
		})
	}
}

// openLog reads the archive's manifest (archive list --json) and returns its newest log.
func (c *archiveCase) openLog(t *testing.T) (l struct {
	Number uint32
	Sealed bool
	Parts  []json.RawMessage
}) {
	t.Helper()
	r := mirrorctlEnv(t, c.srv.Env(), "archive", "list", "--json", "--s3-endpoint", c.srv.Endpoint(), c.url)
	var m struct {
		Logs []json.RawMessage
	}
	if err := json.Unmarshal([]byte(r.Stdout), &m); err != nil || len(m.Logs) == 0 {
		t.Fatalf("archive list --json: %v: %s", err, r)
	}
	if err := json.Unmarshal(m.Logs[len(m.Logs)-1], &l); err != nil {
		t.Fatal(err)
	}
	if l.Sealed || len(l.Parts) == 0 {
		t.Fatalf("the newest log of the archive is not an open one with parts: %s", m.Logs[len(m.Logs)-1])
	}
	return l
}

// waitPast polls the clock until it reads at least at.
func waitPast(at time.Time) {
	for time.Now().Before(at) {
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRestore_ToAMomentBetweenTwoCommits: commits before a moment T and after it (each batch in
// seconds of its own, Berkeley DB's resolution); a restore with --time T, from the archive and from
// the local mirror, holds exactly the commits up to T: every one before, none after, and reports a
// last commit no later than T.
func TestRestore_ToAMomentBetweenTwoCommits(t *testing.T) {
	c := newArchiveCase(t)
	c.commit(t, 0, 20, c.acked)
	c.mustPush(t) // the snapshot: before the moment
	before := filepath.Join(c.base, "acked-before")
	after := filepath.Join(c.base, "acked-after")
	c.commit(t, 20, 100, before)
	moment := time.Now().Truncate(time.Second).Add(time.Second)
	waitPast(moment.Add(time.Second))
	c.commit(t, 120, 100, after)
	// A second snapshot, after the moment (by log volume): restore --time must not use it.
	if r := c.mustPush(t, "--snapshot-every", "32KiB"); !strings.Contains(r.Stdout, "snapshot ") {
		t.Fatalf("push with --snapshot-every took no snapshot: %s", r)
	}
	var snaps struct {
		Snapshots []struct {
			ID       string
			FirstLog uint32 `json:"first_log"`
		}
	}
	list := mirrorctlEnv(t, c.srv.Env(), "archive", "list", "--json", "--s3-endpoint", c.srv.Endpoint(), c.url)
	if err := json.Unmarshal([]byte(list.Stdout), &snaps); err != nil || len(snaps.Snapshots) != 2 {
		t.Fatalf("archive list --json: want two snapshots: %v: %s", err, list)
	}
	// sync copied the mirror from a running environment: every snapshot of it needs every log.
	if snaps.Snapshots[1].FirstLog != snaps.Snapshots[0].FirstLog {
		t.Fatalf("the snapshots of a mirror copied by sync need logs from %d and %d, not all: %s", snaps.Snapshots[0].FirstLog, snaps.Snapshots[1].FirstLog, list)
	}
	t.Run("newest", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "restored")
		r := c.restore(t, c.url, dir, "--json")
		if r.Code != 0 || !strings.Contains(r.Stdout, `"snapshot": "`+snaps.Snapshots[1].ID+`"`) {
			t.Fatalf("restore without --time: want snapshot %s: %s", snaps.Snapshots[1].ID, r)
		}
		for _, f := range []string{c.acked, before, after} {
			if got := ledger(t, dir, f); got.Found != got.Acked {
				t.Fatalf("restore of the newest state lacks commits of %s: %+v", filepath.Base(f), got)
			}
		}
	})
	for _, from := range []string{c.url, c.mirror} {
		t.Run(filepath.Base(from), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "restored")
			r := c.restore(t, from, dir, "--time", moment.UTC().Format(time.RFC3339), "--json")
			if r.Code != 0 {
				t.Fatalf("restore --time: %s", r)
			}
			var rep struct {
				LastCommit *time.Time `json:"last_commit"`
				Snapshot   string     `json:"snapshot"`
			}
			if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil || rep.LastCommit == nil {
				t.Fatalf("restore --json: %v: %s", err, r)
			}
			checkJSONContract(t, "restore", r.Stdout)
			if from == c.url && rep.Snapshot != snaps.Snapshots[0].ID {
				t.Fatalf("restore --time %s used snapshot %s, taken after it; want %s", moment, rep.Snapshot, snaps.Snapshots[0].ID)
			}
			if rep.LastCommit.After(moment) || rep.LastCommit.Before(moment.Add(-time.Minute)) {
				t.Fatalf("last commit %s, recovered to %s", rep.LastCommit, moment)
			}
			if got := ledger(t, dir, c.acked); got.Found != got.Acked {
				t.Fatalf("commits before the snapshot: %+v", got)
			}
			if got := ledger(t, dir, before); got.Found != got.Acked {
				t.Fatalf("commits before %s: %+v", moment, got)
			}
			if got := ledger(t, dir, after); got.Found != 0 || got.Lost != got.Acked {
				t.Fatalf("commits after %s are in the restored environment: %+v", moment, got)
			}
			dbVerify(t, dir)
		})
	}
}

// TestRestore_RefusesADamagedArchive: an object corrupted in the bucket, or missing from it, makes
// restore fail with one line that names it, and leaves the target as it was (absent); a non-empty
// target is refused as a usage error before any download.
func TestRestore_RefusesADamagedArchive(t *testing.T) {
	c := newArchiveCase(t)
	c.commit(t, 0, 200, c.acked)
	c.mustPush(t)
	c.commit(t, 200, 150, c.acked) // the logs the snapshot needs are sealed by now
	c.mustPush(t)
	objects := filepath.Join(c.srv.BucketDir(), "env", "prod")
	dbs, _ := filepath.Glob(filepath.Join(objects, "snapshots", "*", "accounts.db"))
	if len(dbs) != 1 {
		t.Fatalf("snapshot objects: %v", dbs)
	}
	dbKey := strings.TrimPrefix(dbs[0], c.srv.BucketDir()+"/")
	parts, _ := filepath.Glob(filepath.Join(objects, "logs", "*.part.*"))
	if len(parts) == 0 {
		t.Fatal("no part of an open log in the bucket")
	}
	partKey := strings.TrimPrefix(parts[len(parts)-1], c.srv.BucketDir()+"/")
	// A sealed log the snapshot needs: its first.
	var snaps struct {
		Snapshots []struct {
			FirstLog uint32 `json:"first_log"`
		}
	}
	list := mirrorctlEnv(t, c.srv.Env(), "archive", "list", "--json", "--s3-endpoint", c.srv.Endpoint(), c.url)
	if err := json.Unmarshal([]byte(list.Stdout), &snaps); err != nil || len(snaps.Snapshots) != 1 {
		t.Fatalf("archive list --json: %v: %s", err, list)
	}
	logKey := fmt.Sprintf("env/prod/logs/log.%010d", snaps.Snapshots[0].FirstLog)
	for _, tc := range []struct {
		name, key, want string
		damage          func(path string) error
	}{
		{name: "corrupt", key: dbKey, want: "object is corrupt: s3://backups/" + dbKey + " has SHA-256", damage: func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte("damage"), 4096+100)
			return err
		}},
		{name: "corrupt part of the open log", key: partKey, want: "object is corrupt: s3://backups/" + partKey + " has SHA-256", damage: func(p string) error {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteAt([]byte{0xff}, 0)
			return err
		}},
		{name: "missing", key: logKey, want: "object is missing: s3://backups/" + logKey + " is not in the bucket", damage: os.Remove},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(c.srv.BucketDir(), tc.key)
			saved, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.damage(path); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.WriteFile(path, saved, 0o644) })
			parent := t.TempDir()
			dir := filepath.Join(parent, "restored")
			r := c.restore(t, c.url, dir)
			if r.Code != 1 || !strings.Contains(r.Stderr, tc.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
				t.Fatalf("restore of a %s object: want exit 1 and one line with %q: %s", tc.name, tc.want, r)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Fatalf("a failed restore left %v in %s", ents, parent)
			}
		})
	}
	t.Run("non-empty target", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "notes.txt"), "the user's own file")
		r := c.restore(t, c.url, dir)
		if r.Code != 2 || !strings.Contains(r.Stderr, dir+" is not empty") {
			t.Fatalf("restore into a non-empty directory: %s", r)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Fatalf("the refused target changed: %v", ents)
		}
	})
}

// TestArchive_ClearErrorsForCredentialsAndBucket: wrong credentials, none at all, and a bucket that
// does not exist each give one line that says so (without the secret), and nothing is written in the
// bucket.
func TestArchive_ClearErrorsForCredentialsAndBucket(t *testing.T) {
	c := newArchiveCase(t)
	c.commit(t, 0, 20, c.acked)
	for _, tc := range []struct {
		name, url, want string
		env             []string
	}{
		{name: "wrong secret", url: c.url, env: []string{"AWS_ACCESS_KEY_ID=" + c.srv.AccessKey, "AWS_SECRET_ACCESS_KEY=not-the-secret"}, want: "S3 refused the credentials"},
		{name: "unknown key", url: c.url, env: []string{"AWS_ACCESS_KEY_ID=nobody", "AWS_SECRET_ACCESS_KEY=" + c.srv.SecretKey}, want: "S3 refused the credentials"},
		{name: "no credentials", url: c.url, env: []string{"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "HOME=" + t.TempDir(), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(t.TempDir(), "none")}, want: "no S3 credentials"},
		{name: "missing bucket", url: "s3://nobucket/env", env: c.srv.Env(), want: "bucket nobucket does not exist at " + c.srv.Endpoint()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := treeSnapshot(t, c.srv.BucketDir())
			r := mirrorctlEnv(t, tc.env, "archive", "push", "--mirror", c.mirror, "--s3-endpoint", c.srv.Endpoint(), tc.url)
			if r.Code != 1 || !strings.Contains(r.Stderr, tc.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
				t.Fatalf("push: want exit 1 and one line with %q: %s", tc.want, r)
			}
			if strings.Contains(r.Stderr, c.srv.SecretKey) || strings.Contains(r.Stderr, "not-the-secret") {
				t.Fatalf("the message shows a secret: %s", r.Stderr)
			}
			if after := treeSnapshot(t, c.srv.BucketDir()); !equalTrees(before, after) {
				t.Fatalf("a refused push wrote into the bucket")
			}
		})
	}
}

func equalTrees(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestArchive_ServerKilledMidPushCatchesUp: the server is killed while a push uploads (once its first
// object is in the bucket), the push fails with one line; after a restart the next push completes, and
// a restore holds every commit.
func TestArchive_ServerKilledMidPushCatchesUp(t *testing.T) {
	c := newArchiveCase(t)
	// Many small logs, so that the push is still uploading when the kill comes.
	workloadRun(t, c.primary, c.acked, "--txns", "3000", "--log-size", "32768", "--checkpoint-every", "200")
	mustRun(t, "sync", "--primary", c.primary, "--mirror", c.mirror)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "archive", "push", "--mirror", c.mirror, "--s3-endpoint", c.srv.Endpoint(), c.url)
	cmd.Env = append(os.Environ(), c.srv.Env()...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(c.srv.BucketDir(), "env", "prod", "logs")
	eventually(t, time.Minute, "the push's first log object in the bucket", func() bool {
		ents, _ := os.ReadDir(logs)
		return len(ents) > 0
	})
	c.srv.Stop()
	err := cmd.Wait()
	if err == nil {
		t.Fatalf("the push finished although the server was killed during it: %s", out.String())
	}
	if msg := strings.TrimSpace(errb.String()); !strings.Contains(msg, "S3 endpoint unreachable") || strings.Contains(msg, "\n") {
		t.Fatalf("push against a killed server: want one line saying the endpoint is unreachable: %s", msg)
	}
	if ms, _ := filepath.Glob(filepath.Join(c.srv.BucketDir(), "env", "prod", "manifests", "*")); len(ms) != 0 {
		t.Fatalf("a failed push wrote a manifest: %v", ms)
	}
	c.srv.Restart()
	c.mustPush(t)
	c.restoreAll(t, "restore after the catch-up", 3000)
}

// archiveStatus is the archive part of a live mount's status --json.
type archiveStatus struct {
	LagBytes   int64  `json:"lag_bytes"`
	Generation uint64 `json:"generation"`
	Failing    bool   `json:"failing"`
	LastError  string `json:"last_error"`
}

func mountArchiveStatus(t *testing.T, mp string) archiveStatus {
	t.Helper()
	r := mirrorctl(t, "status", "--json", mp)
	var st struct {
		Archive *archiveStatus `json:"archive"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil || st.Archive == nil {
		t.Fatalf("status --json of a mount with --archive: %v: %s", err, r)
	}
	checkJSONContract(t, "status", r.Stdout)
	return *st.Archive
}

// TestMount_ArchivesInTheBackground: a mount with --archive pushes while the application commits
// through it; with the server killed, commits go on (the archive only falls behind, and status says
// it fails); restarted, the archive catches up; after the unmount a restore holds every commit.
func TestMount_ArchivesInTheBackground(t *testing.T) {
	needFUSE(t)
	c := newArchiveCase(t)
	m, mp := c.mount(t, "--snapshot-every", "128KiB", "--metrics-addr", ":0")
	found := metricsURL.FindStringSubmatch(m.Output())
	if found == nil {
		t.Fatalf("the mount does not say where its metrics are:\n%s", m.Output())
	}
	workloadRun(t, mp, c.acked, "--txns", "300", "--log-size", "65536", "--checkpoint-every", "100")
	var st archiveStatus
	eventually(t, 2*time.Minute, "the archive to hold the mirror", func() bool {
		st = mountArchiveStatus(t, mp)
		return st.Generation > 0 && st.LagBytes == 0 && !st.Failing
	})
	c.srv.Stop()
	workloadRun(t, mp, c.acked, "--txns", "200", "--start", "300", "--log-size", "65536", "--checkpoint-every", "100")
	eventually(t, 2*time.Minute, "status to say the archive fails and lags", func() bool {
		st = mountArchiveStatus(t, mp)
		return st.Failing && st.LagBytes > 0 && strings.Contains(st.LastError, "unreachable")
	})
	if r := mirrorctl(t, "status", mp); !strings.Contains(r.Stdout, "ARCHIVE:     FAILING") {
		t.Fatalf("status of a mount whose archive fails: %s", r)
	}
	if got := scrape(t, found[1]); got.get(t, "mirrorctl_archive_failing") != 1 || got.get(t, "mirrorctl_archive_lag_bytes") <= 0 || got.get(t, "mirrorctl_archive_push_failures_total") < 1 {
		t.Fatalf("metrics of a mount whose archive fails:\n%s", got.mirrorctl())
	}
	c.srv.Restart()
	eventually(t, 2*time.Minute, "the archive to catch up after the restart", func() bool {
		st = mountArchiveStatus(t, mp)
		return st.LagBytes == 0 && !st.Failing
	})
	m.Stop(t)
	if !strings.Contains(m.Output(), "archive "+c.url+" holds the mirror") {
		t.Fatalf("unmount did not report the last push:\n%s", m.Output())
	}
	// Without a retention rule the mount still prunes what the newest manifest no longer needs: the
	// manifests of its earlier pushes, the parts of logs since sealed.
	if ms := c.objects(t, "manifests"); len(ms) > 3 {
		t.Fatalf("after the mount's last prune, %d manifests are in the bucket", len(ms))
	}
	c.checkNoStaleParts(t)
	// Snapshots by log volume; a later one needs the logs only from its last checkpoint on (the mount
	// kept the mirror: the write-ahead rule holds on it), so a restore of it replays less.
	var snaps struct {
		Snapshots []struct {
			FirstLog uint32 `json:"first_log"`
		}
	}
	list := mirrorctlEnv(t, c.srv.Env(), "archive", "list", "--json", "--s3-endpoint", c.srv.Endpoint(), c.url)
	if err := json.Unmarshal([]byte(list.Stdout), &snaps); err != nil || len(snaps.Snapshots) < 2 {
		t.Fatalf("archive list --json: want snapshots by log volume: %v: %s", err, list)
	}
	if last := snaps.Snapshots[len(snaps.Snapshots)-1]; last.FirstLog <= snaps.Snapshots[0].FirstLog {
		t.Fatalf("the last snapshot needs logs from %d, as the first: %s", last.FirstLog, list)
	}
	c.restoreAll(t, "restore", 500)
}

// TestMount_ArchiveRefusedAtMount: wrong credentials or a missing bucket stop the mount before it
// serves, with one line that says which, not a silent lag later.
func TestMount_ArchiveRefusedAtMount(t *testing.T) {
	needFUSE(t)
	c := newArchiveCase(t)
	for _, tc := range []struct {
		name, url, want string
		env             []string
	}{
		{name: "wrong secret", url: c.url, env: []string{"AWS_ACCESS_KEY_ID=" + c.srv.AccessKey, "AWS_SECRET_ACCESS_KEY=wrong"}, want: "--archive: S3 refused the credentials"},
		{name: "missing bucket", url: "s3://nobucket/env", env: c.srv.Env(), want: "--archive: bucket does not exist: bucket nobucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			primary, mirrorDir, mp := dirs(t)
			_, err := tryMountEnv(t, tc.env, primary, mirrorDir, mp, "--archive", tc.url, "--s3-endpoint", c.srv.Endpoint())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("mount with a bad archive: want an error with %q, got %v", tc.want, err)
			}
			if isMountPoint(mp) {
				t.Fatal("the mount serves although its archive was refused")
			}
		})
	}
}

// TestArchive_UsageErrors: a bad location, a missing --mirror, a bad --time and a target that
// overlaps the mirror are usage errors (exit 2, one line), and nothing is written.
func TestArchive_UsageErrors(t *testing.T) {
	base := t.TempDir()
	mirrorDir := filepath.Join(base, "mirror")
	if err := os.Mkdir(mirrorDir, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(base, "restored")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "not a location", args: []string{"archive", "push", "--mirror", mirrorDir, "/tmp/backups"}, want: "is not an archive location: write s3://bucket/prefix"},
		{name: "no bucket", args: []string{"archive", "list", "s3://"}, want: "names no bucket"},
		{name: "no mirror", args: []string{"archive", "push", "s3://b/p"}, want: "--mirror DIR is required"},
		{name: "two locations", args: []string{"archive", "list", "s3://b/p", "s3://b/q"}, want: "takes one argument"},
		{name: "not a bucket name", args: []string{"archive", "list", "s3://b/p"}, want: "is not an S3 bucket name"},
		{name: "part below S3's smallest", args: []string{"archive", "push", "--mirror", mirrorDir, "--part-size", "1MiB", "s3://bkt/p"}, want: "is not a size from 5MiB to 5GiB"},
		{name: "part not a size", args: []string{"archive", "push", "--mirror", mirrorDir, "--part-size", "big", "s3://bkt/p"}, want: "is not a size from 5MiB to 5GiB"},
		{name: "bad time", args: []string{"restore", "--from", mirrorDir, "--to", target, "--time", "yesterday"}, want: "is not an RFC 3339 time"},
		{name: "target inside the mirror", args: []string{"restore", "--from", mirrorDir, "--to", filepath.Join(mirrorDir, "sub")}, want: "overlap"},
		{name: "mirror inside the target", args: []string{"restore", "--from", mirrorDir, "--to", base}, want: "is not empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := treeSnapshot(t, base)
			r := mirrorctl(t, tc.args...)
			if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
				t.Fatalf("want exit 2 and one line with %q: %s", tc.want, r)
			}
			if after := treeSnapshot(t, base); !equalTrees(before, after) {
				t.Fatal("a refused command changed the directories")
			}
		})
	}
}
