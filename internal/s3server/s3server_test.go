package s3server

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/minio/minio-go/v7"
)

// TestServer_StartsAnswersAndRestarts checks that Start gives a server holding the bucket, that an
// object put survives a Stop and Restart (the POSIX directory is the storage), and that a stopped
// server does not answer.
func TestServer_StartsAnswersAndRestarts(t *testing.T) {
	s := Start(t, "testbucket")
	ctx := context.Background()
	c := s.client()
	if _, err := c.PutObject(ctx, s.Bucket, "a/b", bytes.NewReader([]byte("hello")), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if _, err := c.ListBuckets(ctx); err == nil {
		t.Fatal("a stopped server answered")
	}
	s.Restart()
	o, err := c.GetObject(ctx, s.Bucket, "a/b", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(o)
	if err != nil || string(b) != "hello" {
		t.Fatalf("after restart: %q, %v", b, err)
	}
}
