package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestResync_AfterFullMirrorOnceTheCulpritIsGone: a big file fills the mirror's disk (ENOSPC) and
// the mount degrades; the application deletes the file (through the mount, so from the primary).
// The partial copy on the mirror is all that holds the space: resync must remove it there, since the
// primary no longer has it, and bring the mirror back in sync.
func TestResync_AfterFullMirrorOnceTheCulpritIsGone(t *testing.T) {
	disk := newDisk(t, 300<<20)
	primary, _, mp := dirs(t)
	mirrorDir := disk.sub(t, "env")
	m := startMount(t, primary, mirrorDir, mp, "--resync-interval", "0")
	m.ExpectDegraded = true
	writeFile(t, filepath.Join(mp, "small"), "kept\n")

	big, err := os.Create(filepath.Join(mp, "big"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	for i := 0; i < 400; i++ {                                // more than the mirror's disk holds
		if _, err := big.Write(chunk); err != nil {
			t.Fatalf("write through the mount after %d MiB: %v (the primary has room)", i, err)
		}
	}
	if err := big.Close(); err != nil {
		t.Fatal(err)
	}
	if s, r := status(t, mp); s.State != "degraded" || !strings.Contains(s.Degraded.Reason, "no space") {
		t.Fatalf("status after the mirror filled up: %s", r)
	}
	if err := os.Remove(filepath.Join(mp, "big")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(mp, "after"), "written while degraded\n")

	if r := mirrorctl(t, "resync", mp); r.Code != 0 {
		t.Fatalf("resync once the culprit is gone from the primary: %s", r)
	}
	if s, r := status(t, mp); s.State != "serving" {
		t.Fatalf("status after the resync: %s", r)
	}
	if _, err := os.Lstat(filepath.Join(mirrorDir, "big")); !os.IsNotExist(err) {
		t.Fatalf("the mirror still has the file the primary deleted: %v", err)
	}
	verifyClean(t, primary, mirrorDir)
	m.Stop(t)
	verifyClean(t, primary, mirrorDir)
}
