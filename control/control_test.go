package control

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mirrorctl/mirrorctl/internal/testenv"
)

// Invariant: only root and the mount's owner are answered; anyone else, or a peer whose
// credentials could not be read, gets 403 and nothing of the status.
func TestOnlyOwner_AnswersRootAndOwnerOnly(t *testing.T) {
	const owner = 1000
	secret := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("/disk1/secret")) })
	cases := []struct {
		name string
		p    peer
		want int
	}{
		{"root", peer{uid: 0, ok: true}, http.StatusOK},
		{"owner", peer{uid: owner, ok: true}, http.StatusOK},
		{"another user", peer{uid: 65534, ok: true}, http.StatusForbidden},
		{"credentials unknown", peer{}, http.StatusForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/resync", nil)
			req = req.WithContext(context.WithValue(req.Context(), peerKey{}, c.p))
			w := httptest.NewRecorder()
			onlyOwner(owner, secret).ServeHTTP(w, req)
			if w.Code != c.want {
				t.Errorf("HTTP %d, want %d", w.Code, c.want)
			}
			if c.want != http.StatusOK && strings.Contains(w.Body.String(), "secret") {
				t.Errorf("a refused peer was answered: %s", w.Body)
			}
		})
	}
}

// Invariant: the socket and the info file are private to the owner from the start, and the
// server reads the peer's credentials of a real connection.
func TestServe_PrivateFilesAndPeerCredentials(t *testing.T) {
	dir := t.TempDir()
	info := Info{PID: os.Getpid(), MountPoint: "/srv/env", Primary: "/disk1/env", Mirror: "/disk2/env"}
	stop, err := serve(dir, os.Geteuid(), info, Handlers{
		Status: func() any { return map[string]string{"state": "serving"} },
		Resync: func(context.Context, string) (any, error) { return nil, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	sock := filepath.Join(dir, baseName(info.MountPoint)+".sock")
	for _, p := range []string{sock, strings.TrimSuffix(sock, ".sock") + ".json"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s is mode %v, want -rw-------", p, st.Mode().Perm())
		}
	}
	if ents, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*")); len(ents) != 0 {
		t.Errorf("temporary socket names left: %v", ents)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Get("http://mirrorctl/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v["state"] != "serving" {
		t.Errorf("the owner's status: HTTP %d, %v, %v", resp.StatusCode, v, err)
	}
}

// A runtime directory is trusted only when owned by its user and writable by nobody else.
func TestTrusted_Refusals(t *testing.T) {
	base := t.TempDir()
	mk := func(name string, mode os.FileMode) string {
		p := filepath.Join(base, name)
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := mk("good", 0o755)
	if err := os.Symlink(good, filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, dir string
		uid       int
		want      string // "" when trusted
	}{
		{"own 0755", good, os.Geteuid(), ""},
		{"writable by all", mk("open", 0o1777), os.Geteuid(), "writable by others"},
		{"another user's", good, os.Geteuid() + 1, "belongs to uid"},
		{"a symlink", filepath.Join(base, "link"), os.Geteuid(), "not a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := trusted(c.dir, c.uid)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Errorf("trusted(%s, %d) = %v; want %q", c.dir, c.uid, err, c.want)
			}
		})
	}
}

// A caller refused by the socket is told that a mount serves the mount point and who runs it.
func TestDeniedError_NamesTheOwner(t *testing.T) {
	e := (&DeniedError{MountPoint: "/srv/env", Owner: 0}).Error()
	if !strings.HasPrefix(e, "a mirrorctl mount serves /srv/env, run by root:") || !strings.Contains(e, "run the command as root") || strings.Contains(e, "\n") {
		t.Errorf("DeniedError = %q", e)
	}
}

// Every user looks in root's well-known directory too, and in its own.
func TestPlaces_IncludeRootsAndOwn(t *testing.T) {
	var dirs []string
	for _, p := range places("/nonexistent/mount/point") {
		dirs = append(dirs, p.dir)
	}
	for _, want := range []string{rootDir, Dir()} {
		found := false
		for _, d := range dirs {
			found = found || d == want
		}
		if !found {
			t.Errorf("places = %v; want %s among them", dirs, want)
		}
	}
}

// Invariant, with real peers: the owner's requests are answered and another user's are refused
// by the peer check alone (the socket's mode is widened here so that only that check stands).
func TestServe_PeerCredentialsOfRealUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root to run curl as other users")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		testenv.SkipOrFail(t, "needs curl (make deps installs it)")
	}
	const owner, stranger = 65534, 65533
	dir := t.TempDir()
	for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// serve checks that the directory belongs to the owner: give it to the owner, as it would be.
	if err := os.Chown(dir, owner, owner); err != nil {
		t.Fatal(err)
	}
	stop, err := serve(dir, owner, Info{MountPoint: "/srv/env"}, Handlers{
		Status: func() any { return map[string]string{"primary": "/disk1/secret"} },
		Resync: func(context.Context, string) (any, error) { return map[string]int{"paths": 0}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	sock := filepath.Join(dir, baseName("/srv/env")+".sock")
	if err := os.Chmod(sock, 0o777); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		uid  uint32
		want string
	}{
		{"root", 0, "200"},
		{"owner", owner, "200"},
		{"another user", stranger, "403"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, method := range []string{"GET", "POST"} {
				path := map[string]string{"GET": "/status", "POST": "/resync"}[method]
				cmd := exec.Command(curl, "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
					"--unix-socket", sock, "-X", method, "http://mirrorctl"+path)
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: c.uid, Gid: c.uid}}
				out, err := cmd.CombinedOutput()
				if string(out) != c.want {
					t.Errorf("%s %s as uid %d: HTTP %q (%v), want %s", method, path, c.uid, out, err, c.want)
				}
			}
		})
	}
}
