package archive

import (
	"strings"
	"testing"
)

func TestParseLocation_Table(t *testing.T) {
	for _, tc := range []struct {
		in             string
		bucket, prefix string
		err            string
	}{
		{in: "s3://b", bucket: "b"},
		{in: "s3://b/", bucket: "b"},
		{in: "s3://b/env/prod/", bucket: "b", prefix: "env/prod"},
		{in: "s3://", err: "names no bucket"},
		{in: "/disk2/env", err: "not an archive location"},
		{in: "s3://b/a//c", err: "empty, . or .."},
		{in: "s3://b/a/../c", err: "empty, . or .."},
	} {
		l, err := ParseLocation(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || l.Bucket != tc.bucket || l.Prefix != tc.prefix {
			t.Errorf("%q: %+v, %v", tc.in, l, err)
		}
		// Round trip.
		if back, err := ParseLocation(l.String()); err != nil || back != l {
			t.Errorf("%q: round trip gives %+v, %v", tc.in, back, err)
		}
	}
}

func TestManifestName_RoundTrip(t *testing.T) {
	for _, g := range []uint64{1, 2, 99, 1<<63 + 5} {
		n := formatManifestName(g)
		if back, ok := parseManifestName(n); !ok || back != g {
			t.Errorf("%d: %q parses as %d, %v", g, n, back, ok)
		}
	}
	for _, bad := range []string{"manifests/1.json", "manifests/00000000000000000000.json", "manifests/0000000000000000000x.json", "logs/00000000000000000001.json", "manifests/00000000000000000001.json.tmp"} {
		if _, ok := parseManifestName(bad); ok {
			t.Errorf("%q parses as a manifest name", bad)
		}
	}
}
