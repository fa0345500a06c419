package main

import (
	"os"
	"strings"
	"testing"
)

func TestDrill_RefusesNonPositiveFlagsAsUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"drill", "--duration", "-5s", "--dir", dir},
		{"drill", "--duration", "0s", "--dir", dir},
		{"drill", "--value-size", "-1", "--dir", dir},
		{"drill", "--value-size", "0", "--dir", dir},
	} {
		t.Run(strings.Join(args[1:3], " "), func(t *testing.T) {
			_, _, code := run(t, args...)
			if code != exitUsage {
				t.Fatalf("exit status %d, want %d", code, exitUsage)
			}
			err := newApp().Run(append([]string{"mirrorctl"}, args...))
			if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), args[1]+" "+args[2]) {
				t.Fatalf("error %q: want one line naming %s %s", err, args[1], args[2])
			}
			if got, _ := os.ReadDir(dir); len(got) != 0 {
				t.Fatalf("a refused drill made %d entries in %s", len(got), dir)
			}
		})
	}
}
