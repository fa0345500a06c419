package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// The mount process answers `status` over a Unix socket in a runtime directory, named after the mount
// point, and leaves a small file there that says which primary and mirror it serves.

func runtimeDir() string {
	if os.Geteuid() == 0 {
		return "/run/mirrorctl"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "mirrorctl")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("mirrorctl-%d", os.Geteuid()))
}

func runtimeName(mountPoint string) string {
	sum := sha256.Sum256([]byte(mountPoint))
	return filepath.Join(runtimeDir(), hex.EncodeToString(sum[:8]))
}

// mountInfo is what the runtime file records about a running mount.
type mountInfo struct {
	PID        int    `json:"pid"`
	MountPoint string `json:"mount_point"`
	Primary    string `json:"primary"`
	Mirror     string `json:"mirror"`
}

func readMountInfo(mountPoint string) (mountInfo, bool) {
	var mi mountInfo
	b, err := os.ReadFile(runtimeName(mountPoint) + ".json")
	if err != nil || json.Unmarshal(b, &mi) != nil {
		return mi, false
	}
	return mi, true
}

// serveControl starts the status endpoint; the returned function stops it and removes its files.
func serveControl(mi mountInfo, status func() any, resync func(context.Context) (any, error)) (func(), error) {
	if err := os.MkdirAll(runtimeDir(), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", runtimeDir(), err)
	}
	base := runtimeName(mi.MountPoint)
	sock := base + ".sock"
	_ = os.Remove(sock) // left by a killed mount; the mirror lock already proved nobody serves it
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", sock, err)
	}
	b, _ := json.Marshal(mi)
	if err := os.WriteFile(base+".json", b, 0o644); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(status())
	})
	mux.HandleFunc("/resync", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		res, err := resync(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": err.Error(), "attempt": res})
			return
		}
		_ = json.NewEncoder(w).Encode(res)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = os.Remove(sock)
		_ = os.Remove(base + ".json")
	}, nil
}

// errNoMount says that no mount process answers for a mount point.
var errNoMount = errors.New("no running mount")

func controlClient(mountPoint string, timeout time.Duration) *http.Client {
	sock := runtimeName(mountPoint) + ".sock"
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}
}

// queryStatus asks the mount process serving mountPoint for its status.
func queryStatus(mountPoint string, v any) error {
	resp, err := controlClient(mountPoint, 5*time.Second).Get("http://mirrorctl/status")
	if err != nil {
		return fmt.Errorf("%w at %s", errNoMount, mountPoint)
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// requestResync asks the mount process serving mountPoint to resync its mirror and waits for the end.
func requestResync(mountPoint string) (map[string]any, error) {
	resp, err := controlClient(mountPoint, 0).Post("http://mirrorctl/resync", "application/json", nil)
	if err != nil {
		return nil, fmt.Errorf("%w at %s", errNoMount, mountPoint)
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("%v", v["error"])
	}
	return v, nil
}
