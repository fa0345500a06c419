package workload

import (
	"reflect"
	"strings"
	"testing"
)

func TestReadAcked_DropsAPartialLastLine(t *testing.T) {
	cases := []struct {
		in   string
		want []int
		ok   bool
	}{
		{"", nil, true},
		{"1\n2\n3\n", []int{1, 2, 3}, true},
		{"1\n2\n3", []int{1, 2}, true}, // the writer died while printing 3: not acknowledged
		{"1\nx\n", []int{1}, false},
	}
	for _, c := range cases {
		got, err := ReadAcked(strings.NewReader(c.in))
		if (err == nil) != c.ok || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ReadAcked(%q) = %v, %v; want %v ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestValue_DerivedFromTheKey(t *testing.T) {
	if string(Value(7, 30)) != "k0000000007:k0000000007:k00000" {
		t.Fatalf("Value(7, 30) = %q", Value(7, 30))
	}
	if string(Key(42)) != "k0000000042" {
		t.Fatalf("Key(42) = %q", Key(42))
	}
}
