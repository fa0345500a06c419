package s3server

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/mirrorctl/mirrorctl/internal/testenv"
)

// Version is the versitygw release the Makefile installs.
const Version = "v1.8.0"

// Server is a running versitygw on loopback.
type Server struct {
	Addr      string // 127.0.0.1:PORT
	Dir       string // the POSIX root: buckets are its subdirectories
	Bucket    string // created by Start
	AccessKey string
	SecretKey string

	t      testing.TB
	bin    string
	mu     sync.Mutex // guards cmd and out
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	out    *bytes.Buffer
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
	var cands []string
	if p := os.Getenv("MIRRORCTL_VERSITYGW"); p != "" {
		cands = append(cands, p)
	}
	if root, ok := moduleRoot(); ok {
		cands = append(cands, filepath.Join(root, "bin", "versitygw"))
	}
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		cands = append(cands, filepath.Join(gobin, "versitygw"))
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		cands = append(cands, filepath.Join(string(bytes.TrimSpace(out)), "bin", "versitygw"))
	}
	for _, c := range cands {
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() {
			return c
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	testenv.SkipOrFail(t, "needs versitygw %s (make versitygw installs it into bin/)", Version)
	return ""
}

// moduleRoot finds the directory of go.mod above the working directory.
func moduleRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// Start starts versitygw on a free loopback port over a new directory, waits until it answers and
// creates bucket. t.Cleanup stops it.
func Start(t testing.TB, bucket string) *Server {
	t.Helper()
	s := &Server{
		Dir: t.TempDir(), Bucket: bucket, AccessKey: "mirrorctltest", SecretKey: "mirrorctl-test-secret-0123456789",
		t: t, bin: Binary(t),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	l.Close()
	t.Cleanup(s.Stop)
	s.Restart()
	if err := s.client().MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("versitygw: create bucket %s: %v", bucket, err)
	}
	return s
}

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
	if s.cmd != nil {
		s.mu.Unlock()
		s.t.Fatal("s3server: Restart of a running server")
	}
	cmd := exec.Command(s.bin, "--port", s.Addr, "--quiet", "posix", s.Dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.AccessKey, "ROOT_SECRET_ACCESS_KEY="+s.SecretKey)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		s.t.Fatalf("start versitygw: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.out, s.exited = cmd, out, exited
	s.mu.Unlock()
	s.waitReady(exited)
}

// waitReady polls the server with a bucket listing until it answers or a deadline passes.
func (s *Server) waitReady(exited <-chan struct{}) {
	s.t.Helper()
	c := s.client()
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			s.t.Fatalf("versitygw exited before answering: %s", s.output())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, last = c.ListBuckets(ctx)
		cancel()
		if last == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("versitygw on %s did not answer within 30s (last: %v): %s", s.Addr, last, s.output())
}

func (s *Server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

// Stop kills the server and waits for it to end; a stopped server's Stop does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited // the goroutine of Restart waits for the process
}

// String names the server for test messages.
func (s *Server) String() string { return fmt.Sprintf("versitygw %s (%s)", s.Addr, s.Dir) }
