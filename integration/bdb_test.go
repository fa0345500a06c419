package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// needBDB skips (or fails under CI) unless the Berkeley DB utilities are installed.
func needBDB(t *testing.T) {
	t.Helper()
	needTool(t, "db_recover", "db_verify", "db_archive", "db_printlog")
}

// workloadRun runs the real Berkeley DB workload in its own process against dir and returns the keys
// it acknowledged (also written to ackedFile, appended).
func workloadRun(t *testing.T, dir, ackedFile string, args ...string) []int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"workload", "run", "--dir", dir}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("workload run %v: %v\n%s", args, err, errb.String())
	}
	f, err := os.OpenFile(ackedFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(out.Bytes()); err != nil {
		t.Fatal(err)
	}
	return parseAcked(t, out.String())
}

func parseAcked(t *testing.T, s string) []int {
	t.Helper()
	var keys []int
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		n, err := strconv.Atoi(line)
		if err != nil {
			t.Fatalf("acked line %q", line)
		}
		keys = append(keys, n)
	}
	return keys
}

// checkResult is what `mirrorctl workload check` prints.
type checkResult struct {
	Acked, Found, Lost, Wrong int
	MaxKey                    int   `json:"max_key"`
	Missing                   []int `json:"missing"`
}

// workloadCheck checks every acknowledged key in the environment dir and fails the test on any loss.
func workloadCheck(t *testing.T, dir, ackedFile string) checkResult {
	t.Helper()
	r := mirrorctl(t, "workload", "check", "--dir", dir, "--acked", ackedFile)
	var c checkResult
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &c); err != nil {
		t.Fatalf("workload check: %s", r)
	}
	if r.Code != 0 || c.Lost != 0 || c.Wrong != 0 || c.Found != c.Acked {
		t.Fatalf("acknowledged commits missing: %+v\n%s", c, r)
	}
	if c.Acked == 0 {
		t.Fatal("no commit was acknowledged: the test proves nothing")
	}
	return c
}

// dbVerify runs db_verify on both databases of the workload.
func dbVerify(t *testing.T, dir string) {
	t.Helper()
	for _, db := range []string{"accounts.db", "history.db"} {
		out, err := exec.Command("db_verify", "-h", dir, "-q", db).CombinedOutput()
		if err != nil {
			t.Fatalf("db_verify %s in %s: %v: %s", db, dir, err, out)
		}
	}
}

// treeSnapshot records every entry's mode and size and every file's content hash under dir, to prove a
// refusal changed nothing.
func treeSnapshot(t *testing.T, dir string) map[string]string { return snapshotOf(t, dir, false) }

// snapshotOf is treeSnapshot, with each entry's modification time if withTimes.
func snapshotOf(t *testing.T, dir string, withTimes bool) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		v := info.Mode().String() + " " + strconv.FormatInt(info.Size(), 10)
		if withTimes {
			v += " " + info.ModTime().UTC().Format("2006-01-02T15:04:05.000000000")
		}
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += " " + strconv.Itoa(len(b)) + ":" + string(hashOf(b))
		}
		snap[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func hashOf(b []byte) []byte {
	var h uint64 = 14695981039346656037
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return []byte(strconv.FormatUint(h, 16))
}

func sameSnapshot(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %s changed: %q -> %q", what, k, v, after[k])
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s: %s appeared", what, k)
		}
	}
}
