package mirror

import (
	"testing"
	"time"
)

func TestRateLimitOneLinePerInterval(t *testing.T) {
	var r rateLimit
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at         time.Duration
		allowed    bool
		suppressed int64
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{30 * time.Second, false, 0},
		{59 * time.Second, false, 0},
		{61 * time.Second, true, 3},
		{62 * time.Second, false, 0},
		{200 * time.Second, true, 1},
	}
	for _, s := range steps {
		ok, n := r.allow(t0.Add(s.at), time.Minute)
		if ok != s.allowed || n != s.suppressed {
			t.Errorf("at %v: allow = %v, %d; want %v, %d", s.at, ok, n, s.allowed, s.suppressed)
		}
	}
}
