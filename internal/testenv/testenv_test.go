package testenv

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Fatalf and Skip instead of ending the test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recorder) Skip(args ...any)                  { r.skip = fmt.Sprint(args...) }

func TestSkipOrFail_FailsOnlyUnderRequireAll(t *testing.T) {
	defer func(old bool) { RequireAll = old }(RequireAll)
	for _, all := range []bool{false, true} {
		RequireAll = all
		r := &recorder{TB: t}
		SkipOrFail(r, "needs %s", "root")
		if all && !strings.Contains(r.fatal, "needs root") || !all && (r.fatal != "" || r.skip != "needs root") {
			t.Errorf("RequireAll=%v: fatal %q, skip %q", all, r.fatal, r.skip)
		}
	}
}
