package integration

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFaults_PrimaryFullUnderLargeWrites: large writes go to both sides at once; when the primary
// fills up mid-write, the mirror must not keep what the primary refused. The file is written in
// 1 MiB writes until the primary answers ENOSPC; afterwards the mirror's file equals the primary's.
func TestFaults_PrimaryFullUnderLargeWrites(t *testing.T) {
	disk := newDisk(t, 300<<20)
	primary := disk.sub(t, "env")
	_, mirrorDir, mp := dirs(t)
	m := startMount(t, primary, mirrorDir, mp)
	f, err := os.OpenFile(filepath.Join(mp, "big.db"), os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	var werr error
	for i := 0; i < 1024 && werr == nil; i++ {
		for j := range chunk {
			chunk[j] = byte(i + j/4096 + 1) // no zeros: a hole would pass for data
		}
		_, werr = f.Write(chunk)
	}
	f.Close()
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("writing until the primary is full: %v, want ENOSPC", werr)
	}
	m.Stop(t)
	p, err := os.ReadFile(filepath.Join(primary, "big.db"))
	if err != nil {
		t.Fatal(err)
	}
	q, err := os.ReadFile(filepath.Join(mirrorDir, "big.db"))
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != len(p) {
		t.Fatalf("mirror's file is %d bytes, the primary's %d: the mirror kept what the full primary refused", len(q), len(p))
	}
	if !bytes.Equal(p, q) {
		t.Fatal("mirror's file differs from the primary's after the primary filled up")
	}
}

// TestFaults_LargeWriteAfterThePrimaryDied: a large write reaches the mirror while the dead primary
// refuses it; the primary cannot give its bytes back, so the mirror keeps them, as after a torn
// write that was never acknowledged. The mirror is not behind: it must not be marked degraded (a
// degraded mirror is one promote must not trust).
func TestFaults_LargeWriteAfterThePrimaryDied(t *testing.T) {
	disk := newDisk(t, 300<<20)
	primary := disk.sub(t, "env")
	_, mirrorDir, mp := dirs(t)
	m := startMount(t, primary, mirrorDir, mp)
	p := filepath.Join(mp, "big.db")
	if err := os.WriteFile(p, bytes.Repeat([]byte("a"), 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	disk.Shutdown(t)
	if _, err := f.WriteAt(bytes.Repeat([]byte("b"), 1<<20), 1<<20); err == nil {
		t.Fatal("a write to the dead primary succeeded")
	}
	if s, r := status(t, mp); s.State == "degraded" {
		t.Fatalf("after a large write the dead primary refused, the mirror is marked degraded: %s", r)
	}
	f.Close()
	m.Kill(t)
}
