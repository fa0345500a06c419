package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"strconv"
	"syscall"
	"time"
)

// ErrNoMount says that no mount process answers for a mount point.
var ErrNoMount = errors.New("no running mount")

// DeniedError says that a mount serves the mount point but its socket does not answer the caller:
// only root and the mount's owner may ask it.
type DeniedError struct {
	MountPoint string
	Owner      int
}

func (e *DeniedError) Error() string {
	who := "root"
	if e.Owner != 0 {
		who = "root or as " + userName(e.Owner)
	}
	return fmt.Sprintf("a mirrorctl mount serves %s, run by %s: only root and the mount's owner may ask it; run the command as %s",
		e.MountPoint, userName(e.Owner), who)
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}

// ReadInfo reads what the mount at mountPoint recorded beside its socket; false when there is no
// such record or the caller may not read it.
func ReadInfo(mountPoint string) (Info, bool) {
	var info Info
	s, ok := Locate(mountPoint)
	if !ok {
		return info, false
	}
	b, err := os.ReadFile(s.info())
	if err != nil || json.Unmarshal(b, &info) != nil {
		return info, false
	}
	return info, true
}

// QueryStatus asks the mount process serving mountPoint for its status and decodes it into v.
func QueryStatus(mountPoint string, v any) error {
	resp, err := do(mountPoint, 5*time.Second, http.MethodGet, "/status")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// RequestResync asks the mount process serving mountPoint to resync its mirror and waits for the
// end; on a failed resync it returns the attempt the mount reported as well as the error.
//
// With newMirror (a mount whose primary was lost), the mount first attaches that directory as its new
// mirror, which the resync then fills.
func RequestResync(mountPoint, newMirror string) (map[string]any, error) {
	p := "/resync"
	if newMirror != "" {
		p += "?mirror=" + url.QueryEscape(newMirror)
	}
	resp, err := do(mountPoint, 0, http.MethodPost, p)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var v map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, fmt.Errorf("resync of %s: reading the answer: %w", mountPoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("%v", v["error"])
	}
	return v, nil
}

// do sends one request to the socket of mountPoint. It fails with ErrNoMount when none answers,
// and with a *DeniedError when one exists but refuses the caller.
func do(mountPoint string, timeout time.Duration, method, path string) (*http.Response, error) {
	s, ok := Locate(mountPoint)
	if !ok {
		// Another user's runtime directory may be closed to the caller: the mount table still
		// says who serves the mount point.
		if uid, listed := mountOwner(mountPoint); listed && os.Geteuid() != 0 && uid != os.Geteuid() {
			return nil, &DeniedError{MountPoint: mountPoint, Owner: uid}
		}
		return nil, fmt.Errorf("%w at %s", ErrNoMount, mountPoint)
	}
	c := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", s.Path)
		}},
	}
	req, err := http.NewRequest(method, "http://mirrorctl"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	switch {
	case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
		return nil, &DeniedError{MountPoint: mountPoint, Owner: s.Owner}
	case err != nil:
		return nil, fmt.Errorf("%w at %s", ErrNoMount, mountPoint)
	case resp.StatusCode == http.StatusForbidden:
		resp.Body.Close()
		return nil, &DeniedError{MountPoint: mountPoint, Owner: s.Owner}
	}
	return resp, nil
}
