package archive

// The store is the bucket seen through minio-go: every object is uploaded, then read back and
// hashed, before anything names it; credentials come from the environment or the shared
// credentials file, the AWS way, and never appear in a message.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Sentinel errors callers act on; the wrapped message says what to do.
var (
	ErrNoCredentials = errors.New("no S3 credentials")
	ErrAccess        = errors.New("S3 refused the credentials")
	ErrNoBucket      = errors.New("bucket does not exist")
	ErrUnreachable   = errors.New("S3 endpoint unreachable")
	ErrCorrupt       = errors.New("object is corrupt")
	ErrMissing       = errors.New("object is missing")
	ErrForeign       = errors.New("archive holds a different object")
	ErrNoArchive     = errors.New("no archive")
)

// DefaultEndpoint is Amazon S3's.
const DefaultEndpoint = "https://s3.amazonaws.com"

// Config says how to reach the store. The zero value is Amazon S3 with credentials from the
// environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or the shared
// credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile AWS_PROFILE).
type Config struct {
	// Endpoint is the server's URL: https://host[:port] (TLS, verified) or http://host[:port].
	Endpoint string
	// Region defaults to AWS_REGION, AWS_DEFAULT_REGION, then us-east-1.
	Region string
	// PartSize is the size of a multipart upload's parts, from MinPartSize to MaxPartSize (0:
	// DefaultPartSize); objects up to it go up in one request, larger ones in parts that a later
	// upload resumes.
	PartSize int64
}

// Store is one archive location on one server.
type Store struct {
	loc      Location
	endpoint string
	c        *minio.Client
	partSize int64
}

// Location is where the store keeps the archive.
func (s *Store) Location() Location { return s.loc }

// Open connects to the server and checks that the credentials are accepted and the bucket exists.
func Open(ctx context.Context, loc Location, cfg Config) (*Store, error) {
	ep := cfg.Endpoint
	if ep == "" {
		ep = os.Getenv("AWS_ENDPOINT_URL")
	}
	if ep == "" {
		ep = DefaultEndpoint
	}
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("--s3-endpoint %q is not a server URL: write https://host[:port] (or http:// for a server without TLS)", ep)
	}
	ps := cfg.PartSize
	if ps == 0 {
		ps = DefaultPartSize
	}
	if ps < MinPartSize || ps > MaxPartSize {
		return nil, fmt.Errorf("part size %d is outside S3's limits: give 5MiB to 5GiB", ps)
	}
	region := firstNonEmpty(cfg.Region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"), "us-east-1")
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{}, // AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, AWS_PROFILE
	})
	v, err := creds.GetWithContext(nil)
	if err != nil || v.AccessKeyID == "" || v.SecretAccessKey == "" {
		return nil, fmt.Errorf("%w for %s: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write them in ~/.aws/credentials", ErrNoCredentials, loc)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds: creds, Secure: u.Scheme == "https", Region: region,
		BucketLookup: minio.BucketLookupPath, MaxRetries: 4,
	})
	if err != nil {
		return nil, fmt.Errorf("S3 client for %s: %w", u.Host, err)
	}
	s := &Store{loc: loc, endpoint: u.Scheme + "://" + u.Host, c: c, partSize: ps}
	// A listing, not a HEAD of the bucket: a HEAD's answer has no body, and some servers answer an
	// unknown access key with 404 there, which would read as a missing bucket.
	for o := range c.ListObjects(ctx, loc.Bucket, minio.ListObjectsOptions{Prefix: loc.key("manifests/"), MaxKeys: 1}) {
		if o.Err != nil {
			return nil, s.explain("list bucket "+loc.Bucket, "", o.Err)
		}
		break
	}
	return s, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// explain turns a client error into a one-line message that says what to do, never with a secret.
func (s *Store) explain(op, key string, err error) error {
	what := op
	if key != "" {
		what = op + " " + s.loc.url(key)
	}
	resp := minio.ToErrorResponse(err)
	code := resp.Code
	if resp.StatusCode == 401 || resp.StatusCode == 403 || code == "XAdminUserNotFound" {
		code = "AccessDenied" // servers name an unknown key their own way (versitygw: XAdminUserNotFound, 404)
	}
	switch code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken":
		return fmt.Errorf("%w (%s) at %s: %s: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or ~/.aws/credentials)", ErrAccess, resp.Code, s.endpoint, what)
	case "NoSuchBucket":
		return fmt.Errorf("%w: bucket %s does not exist at %s: create it, or check the name and --s3-endpoint", ErrNoBucket, s.loc.Bucket, s.endpoint)
	case "NoSuchKey":
		return fmt.Errorf("%w: %s is not in the bucket (%s): the archive is incomplete; restore from another copy", ErrMissing, s.loc.url(key), op)
	}
	if resp.Code == "" && resp.StatusCode == 0 {
		return fmt.Errorf("%w: %s: %s: %v: check that the server runs and --s3-endpoint", ErrUnreachable, s.endpoint, what, oneLine(err))
	}
	return fmt.Errorf("%s at %s: %s (%s)", what, s.endpoint, resp.Message, resp.Code)
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

// Object is one uploaded object and what it hashes to.
type Object struct {
	Key    string `json:"key"` // relative to the prefix
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // hex
}

const metaSHA = "Sha256" // user metadata: X-Amz-Meta-Sha256

// stat says whether name exists and the SHA-256 its metadata records.
func (s *Store) stat(ctx context.Context, name string) (bool, string, error) {
	info, err := s.c.StatObject(ctx, s.loc.Bucket, s.loc.key(name), minio.StatObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" || minio.ToErrorResponse(err).StatusCode == 404 {
			return false, "", nil
		}
		return false, "", s.explain("stat", s.loc.key(name), err)
	}
	return true, info.UserMetadata[metaSHA], nil
}

// putVerified uploads size bytes of r as name, then reads the object back and checks that it
// hashes to what was sent. With sum (hex) given, it goes into the object's metadata (so that a later
// push can recognise the object) and must be what r hashes to; with sum empty, r is hashed as sent.
// An object larger than the part size goes up in parts, resuming an upload an earlier push left.
func (s *Store) putVerified(ctx context.Context, name string, r io.ReaderAt, size int64, sum string) (Object, Transfer, error) {
	key := s.loc.key(name)
	var (
		sent string
		tr   Transfer
	)
	if size > s.partSize {
		var err error
		if sent, tr, err = s.putMultipart(ctx, key, r, size, sum); err != nil {
			return Object{}, tr, err
		}
	} else {
		opts := minio.PutObjectOptions{SendContentMd5: true, ContentType: "application/octet-stream", DisableMultipart: true}
		if sum != "" {
			opts.UserMetadata = map[string]string{metaSHA: sum}
		}
		h := sha256.New()
		info, err := s.c.PutObject(ctx, s.loc.Bucket, key, io.TeeReader(io.NewSectionReader(r, 0, size), h), size, opts)
		if err != nil {
			return Object{}, tr, s.explain("upload", key, err)
		}
		if info.Size != size {
			return Object{}, tr, fmt.Errorf("upload %s: sent %d bytes, expected %d: the file changed while it was read", s.loc.url(key), info.Size, size)
		}
		sent, tr.Sent = hex.EncodeToString(h.Sum(nil)), size
	}
	if sum != "" && sent != sum {
		return Object{}, tr, fmt.Errorf("upload %s: sent bytes hashing to %s, expected %s: the file changed while it was read", s.loc.url(key), sent, sum)
	}
	got, n, err := s.hashObject(ctx, name)
	if err != nil {
		return Object{}, tr, err
	}
	if got != sent || n != size {
		return Object{}, tr, fmt.Errorf("%w: %s read back after upload has SHA-256 %s (%d bytes), uploaded %s (%d bytes): the server stored something else", ErrCorrupt, s.loc.url(key), got, n, sent, size)
	}
	return Object{Key: name, Size: size, SHA256: sent}, tr, nil
}

// putBytes uploads b (see putVerified).
func (s *Store) putBytes(ctx context.Context, name string, b []byte) (Object, error) {
	obj, _, err := s.putVerified(ctx, name, bytes.NewReader(b), int64(len(b)), sha256Hex(b))
	return obj, err
}

// hashObject reads an object and returns its SHA-256 and size.
func (s *Store) hashObject(ctx context.Context, name string) (string, int64, error) {
	h := sha256.New()
	n, err := s.download(ctx, name, h)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// download copies an object to w.
func (s *Store) download(ctx context.Context, name string, w io.Writer) (int64, error) {
	key := s.loc.key(name)
	o, err := s.c.GetObject(ctx, s.loc.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return 0, s.explain("download", key, err)
	}
	defer o.Close()
	n, err := io.Copy(w, o)
	if err != nil {
		return n, s.explain("download", key, err)
	}
	return n, nil
}

// fetchVerified downloads obj into the file path and checks its SHA-256 and size against obj.
func (s *Store) fetchVerified(ctx context.Context, obj Object, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("restore %s: %w", path, err)
	}
	h := sha256.New()
	n, err := s.download(ctx, obj.Key, io.MultiWriter(f, h))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("restore %s: %w", path, cerr)
	}
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != obj.SHA256 || n != obj.Size {
		return fmt.Errorf("%w: %s has SHA-256 %s (%d bytes), the manifest says %s (%d bytes): the archive's copy is damaged; restore from an earlier snapshot or another copy", ErrCorrupt, s.loc.url(s.loc.key(obj.Key)), got, n, obj.SHA256, obj.Size)
	}
	return nil
}

// fetchPart downloads a part of an open log into f at its offset and checks its SHA-256 and size.
func (s *Store) fetchPart(ctx context.Context, pt Part, f *os.File) error {
	h := sha256.New()
	n, err := s.download(ctx, pt.Key, io.MultiWriter(io.NewOffsetWriter(f, pt.Offset), h))
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != pt.SHA256 || n != pt.Size {
		return fmt.Errorf("%w: %s has SHA-256 %s (%d bytes), the manifest says %s (%d bytes): the archive's copy is damaged; restore from an earlier snapshot or another copy", ErrCorrupt, s.loc.url(s.loc.key(pt.Key)), got, n, pt.SHA256, pt.Size)
	}
	return nil
}

// list returns the names (relative to the prefix) of the objects below dir.
func (s *Store) list(ctx context.Context, dir string) ([]string, error) {
	var out []string
	pfx := s.loc.key(dir) + "/"
	for o := range s.c.ListObjects(ctx, s.loc.Bucket, minio.ListObjectsOptions{Prefix: pfx, Recursive: true}) {
		if o.Err != nil {
			return nil, s.explain("list", pfx, o.Err)
		}
		out = append(out, strings.TrimPrefix(strings.TrimPrefix(o.Key, s.loc.Prefix), "/"))
	}
	return out, nil
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
