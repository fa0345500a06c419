package mirror

import (
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/mirrorctl/mirrorctl/meta"
)

func TestReadIntent_TakesOnlyAWholeRecord(t *testing.T) {
	record := func(body string) string {
		return fmt.Sprintf("%08x %d\n%s", crc32.ChecksumIEEE([]byte(body)), len(body), body)
	}
	long := record(`{"open":["a","b","c"]}`)
	short := record(`{"open":["a"]}`)
	cases := []struct {
		name    string
		content string
		want    []string
		whole   bool
	}{
		{"whole", short, []string{"a"}, true},
		{"a shorter record over a longer one, not cut yet", short + long[len(short):], []string{"a"}, true},
		{"a longer record cut short", long[:len(long)-3], nil, false},
		{"two records mixed", long[:20] + short[20:] + long[len(short):], nil, false},
		{"a new header over the old record", record(`{"open":["a","c"]}`)[:12] + record(`{"open":["a","b"]}`)[12:], nil, false},
		{"a record of an earlier version, without header", `{"open":["x"]}`, []string{"x"}, true},
		{"no header", "garbage", nil, false},
		{"a header that lies about the length", "00000000 999\n{}", nil, false},
		{"empty", "", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := meta.Path(dir, intentFile)
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, whole := ReadIntent(dir)
			if whole != c.whole || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("ReadIntent = %q, %v; want %q, %v", got, whole, c.want, c.whole)
			}
		})
	}
}

func TestWriteFileInPlace_CutsWhatALongerRecordLeft(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "rec")
	n, err := writeFileInPlace(p, []byte("0123456789"), -1)
	if err != nil || n != 10 {
		t.Fatalf("first write: %d, %v", n, err)
	}
	if n, err = writeFileInPlace(p, []byte("abc"), n); err != nil || n != 3 {
		t.Fatalf("second write: %d, %v", n, err)
	}
	if b, _ := os.ReadFile(p); string(b) != "abc" {
		t.Fatalf("file holds %q, want %q", b, "abc")
	}
}
