package mirror

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func writeBytes(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSync_CopiesOnlyWhatDiffers(t *testing.T) {
	m, p, q := newCorePair(t, Options{})
	ctx := context.Background()
	big := bytes.Repeat([]byte("x"), 8<<20)
	writeBytes(t, filepath.Join(p, "big"), big)
	writeBytes(t, filepath.Join(p, "dir/small"), []byte("small"))
	os.Symlink("dir/small", filepath.Join(p, "link"))
	syscall.Mkfifo(filepath.Join(p, "fifo"), 0o600)
	writeBytes(t, filepath.Join(q, "extra"), []byte("stale"))

	r, err := m.Sync(ctx, SyncOptions{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.BytesCopied != int64(len(big))+5 || r.Removed != 1 {
		t.Fatalf("first sync: %+v", r)
	}
	coreVerify(t, m)
	if r, _ := m.Sync(ctx, SyncOptions{Full: true}); r.BytesCopied != 0 {
		t.Fatalf("second sync copied %d bytes", r.BytesCopied)
	}
	// One byte changed, size and mtime kept: only a full sync finds it, and copies one chunk.
	f, _ := os.OpenFile(filepath.Join(p, "big"), os.O_WRONLY, 0)
	st, _ := f.Stat()
	f.WriteAt([]byte("y"), 5<<20)
	f.Close()
	os.Chtimes(filepath.Join(p, "big"), st.ModTime(), st.ModTime())
	if r, _ := m.Sync(ctx, SyncOptions{}); r.BytesCopied != 0 {
		t.Fatalf("a quick sync should trust equal size and mtime; it copied %d", r.BytesCopied)
	}
	if r, _ := m.Sync(ctx, SyncOptions{Full: true}); r.BytesCopied != chunkSize {
		t.Fatalf("a full sync should copy exactly one chunk, copied %d", r.BytesCopied)
	}
	coreVerify(t, m)
	// A type change on the mirror is repaired.
	os.Remove(filepath.Join(q, "dir/small"))
	os.Mkdir(filepath.Join(q, "dir/small"), 0o755)
	if _, err := m.Sync(ctx, SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	coreVerify(t, m)
}

func TestSync_CancelledThenCompleted(t *testing.T) {
	m, p, _ := newCorePair(t, Options{})
	for i := 0; i < 50; i++ {
		writeBytes(t, filepath.Join(p, "f", string(rune('a'+i%26))+strings.Repeat("x", i)), []byte("data"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Sync(ctx, SyncOptions{}); err == nil {
		t.Fatal("a cancelled sync reported success")
	}
	if _, err := m.Sync(context.Background(), SyncOptions{}); err != nil {
		t.Fatal(err)
	}
	coreVerify(t, m)
}

func TestVerify_ListsEveryKindOfDifference(t *testing.T) {
	m, p, q := newCorePair(t, Options{})
	writeBytes(t, filepath.Join(p, "missing"), []byte("a"))
	writeBytes(t, filepath.Join(q, "extra"), []byte("a"))
	writeBytes(t, filepath.Join(p, "size"), []byte("aa"))
	writeBytes(t, filepath.Join(q, "size"), []byte("a"))
	writeBytes(t, filepath.Join(p, "content"), []byte("ab"))
	writeBytes(t, filepath.Join(q, "content"), []byte("ba"))
	writeBytes(t, filepath.Join(p, "mode"), []byte("a"))
	writeBytes(t, filepath.Join(q, "mode"), []byte("a"))
	os.Chmod(filepath.Join(q, "mode"), 0o600)
	os.Symlink("x", filepath.Join(p, "link"))
	os.Symlink("y", filepath.Join(q, "link"))
	writeBytes(t, filepath.Join(p, "type"), []byte("a"))
	os.Mkdir(filepath.Join(q, "type"), 0o755)
	d, err := m.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"missing": "missing", "extra": "only on the mirror", "size": "size differs",
		"content": "content differs", "mode": "mode differs", "link": "symlink target", "type": "type differs"}
	got := map[string]string{}
	for _, x := range d {
		got[x.Rel] = x.What
	}
	for rel, w := range want {
		if !strings.Contains(got[rel], w) {
			t.Errorf("%s: got %q, want %q", rel, got[rel], w)
		}
	}
}
