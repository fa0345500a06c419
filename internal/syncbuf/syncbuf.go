// Package syncbuf is a bytes.Buffer that one goroutine writes (a child process's output copied by
// os/exec, a task's progress) while others poll what it holds.
//
// Invariant: every method is safe to call from any goroutine; String returns everything written so
// far. It imports nothing of mirrorctl's, so that package mountproc and the tests can share it.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer that a writer goroutine (a child process's output, a task's progress) and
// a polling test can use at once.
type Buffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
