package testenv

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
