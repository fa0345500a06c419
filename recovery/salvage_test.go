package recovery

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestAppendTail_Table: the mirror's last log may be preallocated (zeros after its data); the
// primary's copy must agree up to the mirror's last non-zero byte, and only what follows is taken.
func TestAppendTail_Table(t *testing.T) {
	zeros := func(n int) []byte { return make([]byte, n) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	cases := []struct {
		name            string
		primary, mirror []byte
		want            []byte
		took            int64
		err             error
	}{
		{"same", []byte("abc"), []byte("abc"), []byte("abc"), 0, nil},
		{"longer primary", []byte("abcdef"), []byte("abc"), []byte("abcdef"), 3, nil},
		{"data inside the preallocated extent", cat([]byte("abcXYZ"), zeros(4)), cat([]byte("abc"), zeros(7)), cat([]byte("abcXYZ"), zeros(4)), 7, nil},
		{"another history", []byte("abXdef"), []byte("abc"), []byte("abc"), 0, errDiverged},
		{"primary shorter than the mirror's data", []byte("ab"), []byte("abc"), []byte("abc"), 0, errDiverged},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p, q := filepath.Join(dir, "p"), filepath.Join(dir, "q")
			os.WriteFile(p, c.primary, 0o644)
			os.WriteFile(q, c.mirror, 0o644)
			took, err := appendTail(p, q)
			if !errors.Is(err, c.err) {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			got, _ := os.ReadFile(q)
			if !bytes.Equal(got, c.want) {
				t.Fatalf("mirror = %q, want %q", got, c.want)
			}
			if err == nil && took != c.took {
				t.Fatalf("took %d bytes, want %d", took, c.took)
			}
		})
	}
}

func TestDataEnd_IgnoresTrailingZeros(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	os.WriteFile(p, append([]byte("data"), make([]byte, 100)...), 0o644)
	if n, err := dataEnd(p); err != nil || n != 4 {
		t.Fatalf("dataEnd = %d, %v", n, err)
	}
}
