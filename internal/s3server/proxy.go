package s3server

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP forwarder on loopback in front of a server: it counts the bytes clients send to the
// server (what an upload costs on the wire), and can slow them down, so that a test can stop the
// server while an upload is half-way. It forwards bytes as they are; it answers nothing itself.
type Proxy struct {
	Addr   string // 127.0.0.1:PORT
	target string

	sent   atomic.Int64 // bytes from clients to the server
	rate   atomic.Int64 // bytes per second from clients; 0: unlimited
	active atomic.Int64 // copies running (two per connection)

	ln net.Listener
	mu sync.Mutex // guards conns and closed
	// conns are the open connections, both sides, closed by Close.
	conns  map[net.Conn]bool
	closed bool
	wg     sync.WaitGroup // the accept loop and the copies
}

// NewProxy listens on a free loopback port and forwards to target; t.Cleanup closes it and waits
// for its goroutines.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Endpoint is the proxy's URL, for --s3-endpoint.
func (p *Proxy) Endpoint() string { return "http://" + p.Addr }

// Sent is how many bytes clients sent through the proxy since the last ResetSent.
func (p *Proxy) Sent() int64 { return p.sent.Load() }

// ResetSent sets the count of bytes sent to zero.
func (p *Proxy) ResetSent() { p.sent.Store(0) }

// Active is how many connections the proxy still forwards: after a client was killed, what it had
// sent may still be on its way to the server until Active is 0.
func (p *Proxy) Active() int { return int(p.active.Load() / 2) }

// SetRate limits what clients send to bytesPerSecond (0: no limit).
func (p *Proxy) SetRate(bytesPerSecond int64) { p.rate.Store(bytesPerSecond) }

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil { // the server is down: the client sees the connection closed
			c.Close()
			continue
		}
		if !p.track(c) || !p.track(up) {
			c.Close()
			up.Close()
			continue
		}
		p.wg.Add(2)
		p.active.Add(2)
		go p.pipe(up, c, true)
		go p.pipe(c, up, false)
	}
}

// pipe copies from src to dst until either side ends, then closes both.
func (p *Proxy) pipe(dst, src net.Conn, fromClient bool) {
	defer p.wg.Done()
	defer p.active.Add(-1)
	defer p.forget(src)
	defer p.forget(dst)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if fromClient {
				p.sent.Add(int64(n))
				if r := p.rate.Load(); r > 0 {
					time.Sleep(time.Duration(int64(n) * int64(time.Second) / r))
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF or a closed connection: either way this direction is done
			return
		}
	}
}

// forget closes c and stops tracking it.
func (p *Proxy) forget(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Close stops listening, closes every connection and waits for the copies to end.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}
