package versitygw

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Version is the versitygw release the Makefile installs.
const Version = "v1.8.0"

// ErrNotInstalled is returned by Find when no versitygw binary is found.
var ErrNotInstalled = errors.New("versitygw is not installed")

// Find returns the path of the versitygw binary.
func Find() (string, error) {
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
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = string(bytes.TrimSpace(out))
		} else if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	if gopath != "" {
		cands = append(cands, filepath.Join(gopath, "bin", "versitygw"))
	}
	for _, c := range cands {
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() {
			return c, nil
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w (%s): run make versitygw in mirrorctl's source tree, or set MIRRORCTL_VERSITYGW to its path", ErrNotInstalled, Version)
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

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Config says how to run the server. All fields are required.
type Config struct {
	Binary               string
	Addr                 string // 127.0.0.1:PORT
	Dir                  string // the POSIX root: buckets are its subdirectories
	AccessKey, SecretKey string // the root keys
}

// Process is a running versitygw.
type Process struct {
	cfg    Config
	mu     sync.Mutex // guards out
	out    bytes.Buffer
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd has been waited for
}

// Start starts the server and waits until it answers (at most 30 s).
func Start(ctx context.Context, cfg Config) (*Process, error) {
	p := &Process{cfg: cfg, exited: make(chan struct{})}
	p.cmd = exec.Command(cfg.Binary, "--port", cfg.Addr, "--quiet", "posix", cfg.Dir)
	p.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+cfg.AccessKey, "ROOT_SECRET_ACCESS_KEY="+cfg.SecretKey)
	p.cmd.Stdout, p.cmd.Stderr = (*lockedWriter)(p), (*lockedWriter)(p)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start versitygw: %w", err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	if err := p.waitReady(ctx); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

type lockedWriter Process

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(b)
}

// Output is what the server printed.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Client is a client of the server with its root keys.
func (p *Process) Client() (*minio.Client, error) {
	return minio.New(p.cfg.Addr, &minio.Options{Creds: credentials.NewStaticV4(p.cfg.AccessKey, p.cfg.SecretKey, ""), BucketLookup: minio.BucketLookupPath})
}

// MakeBucket creates a bucket.
func (p *Process) MakeBucket(ctx context.Context, bucket string) error {
	c, err := p.Client()
	if err != nil {
		return err
	}
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		return fmt.Errorf("versitygw: create bucket %s: %w", bucket, err)
	}
	return nil
}

// waitReady polls the server with a bucket listing until it answers.
func (p *Process) waitReady(ctx context.Context) error {
	c, err := p.Client()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("versitygw exited before answering: %s", bytes.TrimSpace([]byte(p.Output())))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, last = c.ListBuckets(cctx)
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("versitygw on %s did not answer within 30s (last: %v): %s", p.cfg.Addr, last, p.Output())
}

// Stop kills the server and waits for it to end.
func (p *Process) Stop() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}
