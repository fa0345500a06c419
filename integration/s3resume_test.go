package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/mirrorctl/mirrorctl/internal/s3server"
)

// heldParts lists the parts of each incomplete upload under prefix, as the server reports them
// (ListMultipartUploads, ListParts): key -> part sizes by number.
func heldParts(t *testing.T, srv *s3server.Server, prefix string) map[string]map[int]int64 {
	t.Helper()
	core := minio.Core{Client: srv.Client()}
	ctx := context.Background()
	out := map[string]map[int]int64{}
	res, err := core.ListMultipartUploads(ctx, srv.Bucket, prefix, "", "", "", 1000)
	if err != nil {
		t.Fatalf("list incomplete uploads: %v", err)
	}
	for _, u := range res.Uploads {
		parts, err := core.ListObjectParts(ctx, srv.Bucket, u.Key, u.UploadID, 0, 1000)
		if err != nil {
			t.Fatalf("list parts of %s: %v", u.Key, err)
		}
		m := map[int]int64{}
		for _, p := range parts.ObjectParts {
			// versitygw lists a part once it is whole (it writes a part to a temporary file first);
			// the last part of an object is the shorter one.
			m[p.PartNumber] = p.Size
		}
		out[u.Key] = m
	}
	return out
}

// bucketBytes sums the sizes of the objects under prefix, and lists them.
func bucketBytes(t *testing.T, srv *s3server.Server, prefix string) (int64, map[string]int64) {
	t.Helper()
	var n int64
	objs := map[string]int64{}
	for o := range srv.Client().ListObjects(context.Background(), srv.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list %s: %v", prefix, o.Err)
		}
		n += o.Size
		objs[o.Key] = o.Size
	}
	return n, objs
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func objectSHA(t *testing.T, srv *s3server.Server, key string) string {
	t.Helper()
	o, err := srv.Client().GetObject(context.Background(), srv.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	h := sha256.New()
	if _, err := io.Copy(h, o); err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// interruptedUpload is a push (or a mount's pusher) of mirror to url, through proxy, that was
// interrupted while it uploaded a snapshot file in parts; pushArgs are what the next push needs to
// use parts of the same size.
type interruptedUpload struct {
	prefix, url, mirror string
	pushArgs            []string
	proxy               *s3server.Proxy
}

// waitForParts waits until the server holds three parts of a snapshot file under the prefix and
// returns its key.
func (u interruptedUpload) waitForParts(t *testing.T, srv *s3server.Server) string {
	t.Helper()
	var big string
	eventually(t, 2*time.Minute, "three parts of a snapshot file held by the server", func() bool {
		for k, parts := range heldParts(t, srv, u.prefix+"snapshots/") {
			if len(parts) >= 3 {
				big = k
				return true
			}
		}
		return false
	})
	return big
}

// abandon leaves an upload that an earlier push abandoned, of a log no mirror has: never resumed.
func (u interruptedUpload) abandon(t *testing.T, srv *s3server.Server) {
	t.Helper()
	core := minio.Core{Client: srv.Client()}
	if _, err := core.NewMultipartUpload(context.Background(), srv.Bucket, u.prefix+"logs/log.0000099999", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

// resumes pushes again after the interruption of the upload of big, and checks that the push sent
// exactly what the bucket lacked (the parts the server held not again), that the object is the
// mirror's file, that no incomplete upload is left, and that a restore holds every commit.
func (u interruptedUpload) resumes(t *testing.T, c *archiveCase, big, valueSize string) {
	t.Helper()
	// What an interrupted client had sent is forwarded (and counted) before the next push starts.
	eventually(t, time.Minute, "the proxy to forward what the interrupted push sent", func() bool { return u.proxy.Active() == 0 })
	held := heldParts(t, c.srv, u.prefix)[big]
	if len(held) < 3 {
		t.Fatalf("after the interruption the server holds %d parts of %s, want at least 3", len(held), big)
	}
	var heldBytes int64
	for _, n := range held {
		heldBytes += n
	}
	_, before := bucketBytes(t, c.srv, u.prefix)
	var earlier int64 // objects the interrupted push completed: a resumed push reuses them
	for k, n := range before {
		if !strings.Contains(k, "/manifests/") {
			earlier += n
		}
	}

	u.proxy.SetRate(0)
	u.proxy.ResetSent()
	r := mirrorctlEnv(t, c.srv.Env(), append(append([]string{"archive", "push", "--json", "--mirror", u.mirror, "--s3-endpoint", u.proxy.Endpoint()}, u.pushArgs...), u.url)...)
	if r.Code != 0 {
		t.Fatalf("push after the interruption: %s", r)
	}
	var rep struct {
		Bytes          int64 `json:"bytes"`
		ResumedParts   int   `json:"resumed_parts"`
		ResumedBytes   int64 `json:"resumed_bytes"`
		Resumed        bool  `json:"resumed_snapshot"`
		AbortedUploads int   `json:"aborted_uploads"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("push --json: %v: %s", err, r)
	}
	sent := u.proxy.Sent()
	total, _ := bucketBytes(t, c.srv, u.prefix)
	// What the bucket lacked, plus the requests' headers (a few hundred bytes each).
	lacked := total - heldBytes - earlier
	const slack = 1 << 20
	t.Logf("object %s: %d parts held (%d bytes); bucket %d bytes, %d of them there before; sent %d, report %+v", big, len(held), heldBytes, total, earlier, sent, rep)
	if sent > lacked+slack {
		t.Fatalf("the resumed push sent %d bytes, the bucket lacked %d: held parts (%d bytes) were sent again", sent, lacked, heldBytes)
	}
	if sent < lacked {
		t.Fatalf("the resumed push sent %d bytes, fewer than the %d the bucket lacked: the count proves nothing", sent, lacked)
	}
	if !rep.Resumed || rep.ResumedParts < len(held) || rep.ResumedBytes < heldBytes {
		t.Fatalf("the push's report does not say it resumed the %d held parts: %+v", len(held), rep)
	}
	rel := strings.TrimPrefix(big, u.prefix+"snapshots/")
	_, rel, _ = strings.Cut(rel, "/")
	if got, want := objectSHA(t, c.srv, big), fileSHA(t, filepath.Join(u.mirror, rel)); got != want {
		t.Fatalf("%s has SHA-256 %s, the mirror's %s has %s", big, got, rel, want)
	}
	if left := heldParts(t, c.srv, u.prefix); len(left) != 0 {
		t.Fatalf("incomplete uploads left in the bucket after the push: %v", left)
	}
	if rep.AbortedUploads != 1 {
		t.Fatalf("the push aborted %d abandoned uploads, want 1 (the stray one)", rep.AbortedUploads)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	if r := c.restore(t, u.url, dir); r.Code != 0 {
		t.Fatalf("restore: %s", r)
	}
	res := mirrorctl(t, "workload", "check", "--dir", dir, "--acked", c.acked, "--value-size", valueSize)
	var got checkResult
	if err := json.Unmarshal([]byte(strings.TrimSpace(res.Stdout)), &got); err != nil || res.Code != 0 || got.Acked == 0 || got.Found != got.Acked || got.Wrong != 0 {
		t.Fatalf("restore after the resumed push: %+v, %v: %s", got, err, res)
	}
}

// TestArchive_InterruptedUploadResumes: a push that uploads a large database file in parts (slowed
// down by a proxy that counts what the client sends) is interrupted: by the server's death, by the
// pushing process's, or by a mount's (its background pusher); the server still lists the parts it
// held, and the next push sends only the rest: the bytes on the wire are those the bucket lacked,
// not one held part more. The object is the mirror's file (SHA-256), a restore holds every commit,
// and no incomplete upload is left in the bucket: one an earlier push abandoned is aborted.
func TestArchive_InterruptedUploadResumes(t *testing.T) {
	c := newArchiveCase(t)
	const valueSize = "16384"
	workloadRun(t, c.primary, c.acked, "--txns", "2500", "--value-size", valueSize, "--log-size", "4194304", "--checkpoint-every", "500")
	mustRun(t, "sync", "--primary", c.primary, "--mirror", c.mirror)
	for _, tc := range []struct {
		name      string
		interrupt func(cmd *exec.Cmd)
		after     func() // before the next push
	}{
		{name: "server killed", interrupt: func(*exec.Cmd) { c.srv.Stop() }, after: c.srv.Restart},
		{name: "pushing process killed", interrupt: func(cmd *exec.Cmd) { cmd.Process.Kill() }, after: func() {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := "env/" + strings.ReplaceAll(tc.name, " ", "-") + "/"
			u := interruptedUpload{prefix: prefix, url: "s3://" + c.srv.Bucket + "/" + strings.TrimSuffix(prefix, "/"), mirror: c.mirror,
				pushArgs: []string{"--part-size", "5MiB"}, proxy: s3server.NewProxy(t, c.srv.Addr)}
			u.abandon(t, c.srv)
			u.proxy.SetRate(12 << 20)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append(append([]string{"archive", "push", "--mirror", c.mirror, "--s3-endpoint", u.proxy.Endpoint()}, u.pushArgs...), u.url)...)
			cmd.Env = append(os.Environ(), c.srv.Env()...)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			big := u.waitForParts(t, c.srv)
			tc.interrupt(cmd)
			if err := cmd.Wait(); err == nil {
				t.Fatalf("the push finished although it was interrupted: %s", out.String())
			}
			tc.after()
			u.resumes(t, c, big, valueSize)
		})
	}
	t.Run("mount killed", func(t *testing.T) {
		needFUSE(t)
		// The mount serves the environment with a new mirror and pushes it in parts of the default
		// size; it is killed (SIGKILL) while its pusher uploads the first snapshot.
		_, mirrorDir, mp := dirs(t)
		prefix := "env/mount-killed/"
		u := interruptedUpload{prefix: prefix, url: "s3://" + c.srv.Bucket + "/" + strings.TrimSuffix(prefix, "/"), mirror: mirrorDir,
			proxy: s3server.NewProxy(t, c.srv.Addr)}
		u.abandon(t, c.srv)
		u.proxy.SetRate(40 << 20)
		m, err := tryMountEnv(t, c.srv.Env(), c.primary, mirrorDir, mp, "--archive", u.url, "--s3-endpoint", u.proxy.Endpoint())
		if err != nil {
			t.Fatal(err)
		}
		big := u.waitForParts(t, c.srv)
		m.Kill(t)
		u.resumes(t, c, big, valueSize)
	})
}
