package s3server

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/mirrorctl/mirrorctl/internal/testenv"
	"github.com/mirrorctl/mirrorctl/internal/versitygw"
)

// Version is the versitygw release the Makefile installs.
const Version = versitygw.Version

// Server is a running versitygw on loopback.
type Server struct {
	Addr      string // 127.0.0.1:PORT
	Dir       string // the POSIX root: buckets are its subdirectories
	Bucket    string // created by Start
	AccessKey string
	SecretKey string

	t   testing.TB
	bin string
	mu  sync.Mutex // guards proc
	// proc is the running server (nil: stopped).
	proc *versitygw.Process
}

// Endpoint is the server's URL, for --s3-endpoint.
func (s *Server) Endpoint() string { return "http://" + s.Addr }

// Env is the environment a client needs to authenticate to the server, the AWS way.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.SecretKey, "AWS_REGION=us-east-1"}
}

// BucketDir is the directory holding the bucket's objects.
func (s *Server) BucketDir() string { return filepath.Join(s.Dir, s.Bucket) }

// Binary finds versitygw, or skips (fails under MIRRORCTL_REQUIRE_ALL=1) saying how to install it.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := versitygw.Find()
	if err != nil {
		testenv.SkipOrFail(t, "needs versitygw %s (make versitygw installs it into bin/)", Version)
	}
	return p
}

// Start starts versitygw on a free loopback port over a new directory, waits until it answers and
// creates bucket. t.Cleanup stops it.
func Start(t testing.TB, bucket string) *Server {
	t.Helper()
	s := &Server{
		Dir: t.TempDir(), Bucket: bucket, AccessKey: "mirrorctltest", SecretKey: "mirrorctl-test-secret-0123456789",
		t: t, bin: Binary(t),
	}
	addr, err := versitygw.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = addr
	t.Cleanup(s.Stop)
	s.Restart()
	if err := s.proc.MakeBucket(context.Background(), bucket); err != nil {
		t.Fatal(err)
	}
	return s
}

// Client is a client of the server with its root keys, for a test to look at what the server holds
// (its objects, its incomplete uploads and their parts).
func (s *Server) Client() *minio.Client { return s.client() }

func (s *Server) client() *minio.Client {
	c, err := minio.New(s.Addr, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), BucketLookup: minio.BucketLookupPath})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// Restart starts the server again (after Stop) on the same address and directory and waits until
// it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.t.Fatal("s3server: Restart of a running server")
	}
	p, err := versitygw.Start(context.Background(), versitygw.Config{Binary: s.bin, Addr: s.Addr, Dir: s.Dir, AccessKey: s.AccessKey, SecretKey: s.SecretKey})
	if err != nil {
		s.t.Fatal(err)
	}
	s.proc = p
}

// Stop kills the server and waits for it to end; a stopped server's Stop does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p != nil {
		p.Stop()
	}
}

// String names the server for test messages.
func (s *Server) String() string { return fmt.Sprintf("versitygw %s (%s)", s.Addr, s.Dir) }
