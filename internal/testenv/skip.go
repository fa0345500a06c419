package testenv

import (
	"fmt"
	"os"
	"testing"
)

// RequireAll is set by .ci/run: a test that cannot run is then a failure, not a skip.
var RequireAll = os.Getenv("MIRRORCTL_REQUIRE_ALL") == "1"

// SkipOrFail skips the test with the reason it cannot run, or fails it when RequireAll is set.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if RequireAll {
		t.Fatalf("cannot run (MIRRORCTL_REQUIRE_ALL=1): %s", msg)
	}
	t.Skip(msg)
}
