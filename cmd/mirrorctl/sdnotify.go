package main

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// notifier speaks systemd's readiness protocol (sd_notify(3)): datagrams of KEY=VALUE lines sent to
// the socket named by $NOTIFY_SOCKET. Without that variable (not started by systemd as Type=notify)
// every call does nothing.
//
// Why not github.com/coreos/go-systemd/v22/daemon: its SdNotify reads $NOTIFY_SOCKET on every call,
// and its only way to keep the socket from child processes is to unset the variable on a call, after
// which it cannot send again. The mount speaks to systemd for its whole life (STATUS= while it syncs,
// READY=1, STATUS= on every state change, STOPPING=1) and runs the engine's utilities meanwhile: it
// must read the socket once, unset it at once, and keep sending to it. That is this type, 30 lines
// (TestNotifierSpeaksSystemdProtocol checks both the datagrams and that the variable is gone).
type notifier struct {
	addr *net.UnixAddr
}

// newNotifier reads $NOTIFY_SOCKET and unsets it, so that processes the mount starts (recovery
// utilities) cannot speak for it.
func newNotifier() *notifier {
	path := os.Getenv("NOTIFY_SOCKET")
	_ = os.Unsetenv("NOTIFY_SOCKET")
	if path == "" {
		return &notifier{}
	}
	if strings.HasPrefix(path, "@") { // an abstract socket
		path = "\x00" + path[1:]
	}
	return &notifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
}

// send delivers state lines such as "READY=1" and "STATUS=serving"; systemd reads one datagram each.
func (n *notifier) send(lines ...string) error {
	if n == nil || n.addr == nil {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("notify systemd at %s: %w", strings.TrimPrefix(n.addr.Name, "\x00"), err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		return fmt.Errorf("notify systemd: %w", err)
	}
	return nil
}

// status is a one-line STATUS= for `systemctl status`.
func (n *notifier) status(format string, args ...any) error {
	return n.send("STATUS=" + strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " "))
}
