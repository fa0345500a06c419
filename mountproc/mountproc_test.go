package mountproc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeMount writes a stand-in for the mirrorctl binary that runs script.
func fakeMount(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mirrorctl")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStart_NotReadyLeavesNothingRunning checks Start's invariant: a child that exits before it
// serves, or that never serves before ctx ends, is reported and left neither running nor mounted.
func TestStart_NotReadyLeavesNothingRunning(t *testing.T) {
	for _, c := range []struct {
		name, script string
		exited       bool
	}{
		{"exits", `echo "cannot mount: $*"; exit 3`, true},
		// It prints the ready line but mounts nothing: not serving.
		{"never mounts", `echo "serving "; echo $$ > "$(dirname "$0")/pid"; exec sleep 60`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin := fakeMount(t, c.script)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			p, err := Start(ctx, Config{Binary: bin, Primary: "/p", Mirror: "/m", Point: t.TempDir()})
			if err == nil {
				p.Kill()
				t.Fatal("Start returned a process that does not serve")
			}
			var exited *ExitedError
			if errors.As(err, &exited) != c.exited {
				t.Fatalf("error %v: ExitedError = %v, want %v", err, !c.exited, c.exited)
			}
			if c.exited && !strings.Contains(exited.Output, "cannot mount: mount --primary /p --mirror /m") {
				t.Fatalf("the child's output or arguments are lost: %q", exited.Output)
			}
			if c.exited {
				return
			}
			b, err := os.ReadFile(filepath.Join(filepath.Dir(bin), "pid"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat("/proc/" + strings.TrimSpace(string(b))); !os.IsNotExist(err) {
				t.Fatalf("the child %s still runs after a failed Start", strings.TrimSpace(string(b)))
			}
		})
	}
}
