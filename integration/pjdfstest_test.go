package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirrorctl/mirrorctl/internal/testenv"
)

// pjdfstestDir is where `make pjdfstest` builds the suite (the binary and its tests/ beside it);
// MIRRORCTL_PJDFSTEST names another build.
func pjdfstestDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MIRRORCTL_PJDFSTEST")
	if dir == "" {
		dir = filepath.Join("..", "bin", "pjdfstest")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, "pjdfstest")); err != nil {
		testenv.SkipOrFail(t, "needs pjdfstest built at %s (make pjdfstest builds it): %v", abs, err)
	}
	return abs
}

// proveSummary is the line prove ends its report with: "Files=238, Tests=8798, ...".
var proveSummary = regexp.MustCompile(`(?m)^Files=(\d+), Tests=(\d+),`)

// TestPjdfstest_NoFailures runs the whole of pjdfstest (POSIX semantics of every call that changes a
// file system: modes, owners, links, renames, paths up to PATH_MAX relative to the working directory
// and deeper than PATH_MAX from the root, ...) through the mount, as root, and requires every subtest
// to pass, as on ext4; then the mirror must equal the primary.
func TestPjdfstest_NoFailures(t *testing.T) {
	needFUSE(t)
	needTool(t, "prove")
	suite := pjdfstestDir(t)
	primary, mirrorDir, mp := dirs(t)
	m := startMount(t, primary, mirrorDir, mp)

	work := filepath.Join(mp, "pjdfstest")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	prove := exec.CommandContext(ctx, "prove", "-r", filepath.Join(suite, "tests"))
	prove.Dir = work
	out, err := prove.CombinedOutput()
	report := string(out)
	if i := strings.Index(report, "Test Summary Report"); i >= 0 {
		report = report[i:] // the failures, without the ok lines of 238 files
	}
	sum := proveSummary.FindStringSubmatch(string(out))
	if sum == nil {
		t.Fatalf("prove printed no summary (%v):\n%s", err, lastLines(string(out), 40))
	}
	if n, _ := strconv.Atoi(sum[2]); n < 8000 {
		t.Errorf("pjdfstest ran only %d subtests; the full suite has 8,798", n)
	}
	if err != nil || !strings.Contains(string(out), "\nResult: PASS") {
		t.Errorf("pjdfstest through the mount failed (%v):\n%s", err, report)
	}
	m.Stop(t)
	verifyClean(t, primary, mirrorDir)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
