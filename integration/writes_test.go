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
