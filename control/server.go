package control

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mirrorctl/mirrorctl/meta"
	"golang.org/x/sys/unix"
)

// Info is what the file beside a socket records about the mount that serves it.
type Info struct {
	PID        int    `json:"pid"`
	MountPoint string `json:"mount_point"`
	Primary    string `json:"primary"`
	Mirror     string `json:"mirror"`
}

// Handlers are what the mount process answers with.
type Handlers struct {
	Status func() any
	// Resync resyncs the mirror; given a directory (after the primary was lost), it first attaches
	// that directory as the new mirror.
	Resync func(ctx context.Context, newMirror string) (any, error)
}

// Serve opens the control socket of the mount described by info in this user's runtime directory;
// the returned function stops it and removes its files.
func Serve(info Info, h Handlers) (stop func(), err error) {
	return serve(Dir(), os.Geteuid(), info, h)
}

func serve(dir string, owner int, info Info, h Handlers) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, meta.Explain(err)
	}
	if err := trusted(dir, owner); err != nil {
		return nil, err
	}
	base := filepath.Join(dir, baseName(info.MountPoint))
	sock := base + ".sock"
	ln, err := listenPrivate(sock)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(info)
	if err := writePrivate(base+".json", b); err != nil {
		ln.Close()
		os.Remove(sock)
		return nil, err
	}
	srv := &http.Server{
		Handler:           onlyOwner(owner, routes(h)),
		ReadHeaderTimeout: 5 * time.Second,
		ConnContext:       withPeer,
	}
	go func() { _ = srv.Serve(ln) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = os.Remove(sock)
		_ = os.Remove(base + ".json")
	}, nil
}

// listenPrivate listens on a Unix socket at path that is mode 0600 from the moment it has that
// name: it is bound under a temporary name, chmod'ed, then renamed over whatever a killed mount
// left (the mirror lock already proved nobody serves it).
func listenPrivate(path string) (*net.UnixListener, error) {
	tmp := path + ".tmp-" + strconv.Itoa(os.Getpid())
	_ = os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("rename %s: %w", tmp, err)
	}
	return ln, nil
}

func writePrivate(path string, b []byte) error {
	_ = os.Remove(path)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return meta.Explain(err)
	}
	return nil
}

func routes(h Handlers) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(h.Status())
	})
	mux.HandleFunc("/resync", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		res, err := h.Resync(r.Context(), r.URL.Query().Get("mirror"))
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": err.Error(), "attempt": res})
			return
		}
		_ = json.NewEncoder(w).Encode(res)
	})
	return mux
}

// peer is the credentials of the process at the other end of a connection, read when it was
// accepted; ok is false when they could not be read.
type peer struct {
	uid int
	ok  bool
}

type peerKey struct{}

// withPeer reads the peer's credentials of an accepted connection (SO_PEERCRED) into its context.
func withPeer(ctx context.Context, c net.Conn) context.Context {
	p := peer{}
	if uc, ok := c.(*net.UnixConn); ok {
		if raw, err := uc.SyscallConn(); err == nil {
			_ = raw.Control(func(fd uintptr) {
				if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
					p = peer{uid: int(cred.Uid), ok: true}
				}
			})
		}
	}
	return context.WithValue(ctx, peerKey{}, p)
}

// onlyOwner answers a request only from root or owner; anyone else gets 403 and nothing more.
func onlyOwner(owner int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := r.Context().Value(peerKey{}).(peer)
		if !p.ok || (p.uid != 0 && p.uid != owner) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": "only root and the mount's owner may use this socket", "owner_uid": owner})
			return
		}
		next.ServeHTTP(w, r)
	})
}
