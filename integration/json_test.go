package integration

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/mirrorctl/mirrorctl/internal/testenv"
)

// The --json reports are a contract written down in docs/json.md: these tests hold every command's
// output to it, so the page and the program cannot drift apart.

type jsonField struct {
	path   string // dotted, e.g. stats.bytes_mirrored
	always bool
}

var (
	contractOnce sync.Once
	contract     map[string][]jsonField
	contractErr  error
)

var (
	sectionRe = regexp.MustCompile("^## `mirrorctl ([a-z]+) --json`")
	rowRe     = regexp.MustCompile("^\\| `([a-z_.]+)` \\| (yes|no) \\|")
)

// jsonContract reads docs/json.md: for each command, its fields and whether they are always there.
func jsonContract(t *testing.T) map[string][]jsonField {
	t.Helper()
	contractOnce.Do(func() {
		f, err := os.Open(filepath.Join("..", "docs", "json.md"))
		if err != nil {
			contractErr = err
			return
		}
		defer f.Close()
		contract = map[string][]jsonField{}
		cmd := ""
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if m := sectionRe.FindStringSubmatch(sc.Text()); m != nil {
				cmd = m[1]
			} else if m := rowRe.FindStringSubmatch(sc.Text()); m != nil && cmd != "" {
				contract[cmd] = append(contract[cmd], jsonField{path: m[1], always: m[2] == "yes"})
			}
		}
		contractErr = sc.Err()
	})
	if contractErr != nil {
		t.Fatalf("reading docs/json.md: %v", contractErr)
	}
	return contract
}

// checkJSONContract requires that out is one JSON object with every field docs/json.md promises
// for command, and no top-level field the page does not document. It returns the object.
func checkJSONContract(t *testing.T, command, out string) map[string]any {
	t.Helper()
	fields, ok := jsonContract(t)[command]
	if !ok || len(fields) == 0 {
		t.Fatalf("docs/json.md documents no fields for %s --json", command)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%s --json printed no single JSON object (%v):\n%s", command, err, out)
	}
	documented := map[string]bool{}
	for _, f := range fields {
		top := strings.SplitN(f.path, ".", 2)[0]
		documented[top] = true
		if _, present := lookupPath(v, f.path); f.always && !present {
			t.Errorf("%s --json lacks %q, which docs/json.md says is always there:\n%s", command, f.path, out)
		}
	}
	var extra []string
	for k := range v {
		if !documented[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("%s --json prints fields docs/json.md does not document: %v", command, extra)
	}
	return v
}

// presentFields fails unless each dotted path is in v (for optional fields a scenario must show).
func presentFields(t *testing.T, command string, v map[string]any, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, ok := lookupPath(v, p); !ok {
			t.Errorf("%s --json lacks %q here", command, p)
		}
	}
}

func lookupPath(v map[string]any, path string) (any, bool) {
	parts := strings.Split(path, ".")
	var cur any = v
	for _, p := range parts {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// TestJSONReports runs the reporting commands of a mirror's life with --json: sync, verify, status
// (stopped and live), resync after a real mirror failure, unmount. promote and drill are held to the
// page by their own tests.
func TestJSONReports(t *testing.T) {
	needFUSE(t)
	needTool(t, "chattr")
	primary, mirrorDir, mp := dirs(t)
	writeFile(t, filepath.Join(primary, "data.db"), strings.Repeat("x", 10000))
	writeFile(t, filepath.Join(primary, "log.0000000001"), "log")

	r := mustRun(t, "sync", "--json", "--primary", primary, "--mirror", mirrorDir)
	v := checkJSONContract(t, "sync", r.Stdout)
	if v["copied"].(float64) < 2 {
		t.Errorf("sync --json copied %v entries, want the 2 files", v["copied"])
	}
	r = mustRun(t, "verify", "--json", "--primary", primary, "--mirror", mirrorDir)
	if v := checkJSONContract(t, "verify", r.Stdout); v["match"] != true {
		t.Errorf("verify --json of a synced pair: %s", r.Stdout)
	}
	writeFile(t, filepath.Join(primary, "data.db"), "changed behind the back")
	r = mirrorctl(t, "verify", "--json", "--primary", primary, "--mirror", mirrorDir)
	if v := checkJSONContract(t, "verify", r.Stdout); v["match"] != false || r.Code != 1 {
		t.Errorf("verify --json of a changed pair (exit %d): %s", r.Code, r.Stdout)
	}
	r = mustRun(t, "status", "--json", "--mirror", mirrorDir, "--primary", primary)
	checkJSONContract(t, "status", r.Stdout)

	m := startMount(t, primary, mirrorDir, mp, "--resync-interval", "0")
	r = mustRun(t, "status", "--json", mp)
	v = checkJSONContract(t, "status", r.Stdout)
	presentFields(t, "status", v, "mount_point", "pid", "stats.bytes_mirrored", "stats.primary_fsync", "stats.mirror_fsync")
	if v["live"] != true || v["state"] != "serving" {
		t.Errorf("live status: %s", r.Stdout)
	}

	// A mirror file that cannot be written (immutable) degrades the mount; once writable, resync.
	victim := filepath.Join(mirrorDir, "data.db")
	if out, err := exec.Command("chattr", "+i", victim).CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "chattr +i on the mirror's file system: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", victim).Run() })
	m.ExpectDegraded = true
	f, err := os.OpenFile(filepath.Join(mp, "data.db"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("new"), 0); err != nil {
		t.Fatalf("write with the default degrade policy must succeed: %v", err)
	}
	f.Close()
	r = mirrorctl(t, "status", "--json", mp)
	v = checkJSONContract(t, "status", r.Stdout)
	presentFields(t, "status", v, "degraded.since", "degraded.reason", "degraded.dirty")
	if v["state"] != "degraded" || r.Code != 3 {
		t.Fatalf("status of a degraded mount: exit %d, %s", r.Code, r.Stdout)
	}
	if out, err := exec.Command("chattr", "-i", victim).CombinedOutput(); err != nil {
		t.Fatalf("chattr -i: %v %s", err, out)
	}
	r = mustRun(t, "resync", "--json", mp)
	if v := checkJSONContract(t, "resync", r.Stdout); v["whole"] != true {
		t.Errorf("resync --json: %s", r.Stdout)
	}
	r = mirrorctl(t, "resync", "--json", mp)
	var refused map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &refused); err != nil || r.Code != 1 || refused["error"] == nil {
		t.Errorf("resync of an in-sync mount: want exit 1 and {\"error\": ...}, got exit %d: %s", r.Code, r.Stdout)
	}

	r = mustRun(t, "unmount", "--json", mp)
	if v := checkJSONContract(t, "unmount", r.Stdout); v["clean_stop"] != true {
		t.Errorf("unmount --json: %s", r.Stdout)
	}
	<-m.done
	verifyClean(t, primary, mirrorDir)
}
