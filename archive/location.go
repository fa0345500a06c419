package archive

import (
	"fmt"
	"path"
	"strings"
)

// Location is where an archive lives: a bucket and a key prefix (no leading or trailing slash).
type Location struct {
	Bucket string
	Prefix string
}

const scheme = "s3://"

// IsLocation reports whether s is written as an archive location (s3://...), not a local path.
func IsLocation(s string) bool { return strings.HasPrefix(s, scheme) }

// ParseLocation reads s3://bucket[/prefix].
func ParseLocation(s string) (Location, error) {
	if !IsLocation(s) {
		return Location{}, fmt.Errorf("%q is not an archive location: write s3://bucket/prefix", s)
	}
	rest := strings.TrimPrefix(s, scheme)
	bucket, prefix, _ := strings.Cut(rest, "/")
	prefix = strings.Trim(prefix, "/")
	if bucket == "" {
		return Location{}, fmt.Errorf("%q names no bucket: write s3://bucket/prefix", s)
	}
	if !validBucket(bucket) {
		return Location{}, fmt.Errorf("%q: %q is not an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit)", s, bucket)
	}
	if strings.Contains(prefix, "//") || strings.Contains("/"+prefix+"/", "/../") || strings.Contains("/"+prefix+"/", "/./") {
		return Location{}, fmt.Errorf("%q has an empty, . or .. part in its prefix: write s3://bucket/prefix", s)
	}
	return Location{Bucket: bucket, Prefix: prefix}, nil
}

// String formats the location as ParseLocation reads it.
func (l Location) String() string {
	if l.Prefix == "" {
		return scheme + l.Bucket
	}
	return scheme + l.Bucket + "/" + l.Prefix
}

// key is the object key of a name below the prefix.
func (l Location) key(name string) string {
	if l.Prefix == "" {
		return name
	}
	return l.Prefix + "/" + name
}

// url names an object for messages.
func (l Location) url(key string) string { return scheme + path.Join(l.Bucket, key) }

// validBucket reports whether b follows S3's bucket naming rules (the client refuses others before
// asking the server, with a message that would read as an unreachable server).
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i, r := range b {
		alnum := (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9')
		if !alnum && ((r != '.' && r != '-') || i == 0 || i == len(b)-1) {
			return false
		}
	}
	return !strings.Contains(b, "..")
}
