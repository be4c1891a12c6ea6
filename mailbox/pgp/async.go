package pgp

import (
	"errors"
	"io"
)

// asyncWriter hands what is written to it to a goroutine that writes it
// on to w, so that encrypting a large message (compression, CFB, SHA-1)
// and what comes after the encryption (ASCII armor, the blob file, the
// structure walk) run on two cores at once instead of one after the other.
// Writes are copied into chunk buffers (at most asyncDepth in flight);
// Close waits until everything reached w, and reports the first error.
type asyncWriter struct {
	w     io.Writer
	bufs  *Buffers
	queue chan []byte
	free  chan []byte
	done  chan struct{}
	err   error // the writer goroutine's first error; read after done, or by Write via failed
	fail  chan struct{}
}

const asyncDepth = 3

func newAsyncWriter(w io.Writer, bufs *Buffers) *asyncWriter {
	a := &asyncWriter{w: w, bufs: bufs, queue: make(chan []byte, asyncDepth),
		free: make(chan []byte, asyncDepth), done: make(chan struct{}), fail: make(chan struct{})}
	for range asyncDepth {
		a.free <- bufs.chunk()
	}
	go a.run(a.queue)
	return a
}

// run writes what arrives on queue (a.queue is the producer's: Close
// clears it).
func (a *asyncWriter) run(queue <-chan []byte) {
	defer close(a.done)
	failed := false
	for b := range queue {
		if !failed {
			if _, err := a.w.Write(b); err != nil {
				a.err, failed = err, true
				close(a.fail)
			}
		}
		a.free <- b[:0]
	}
}

var errAsyncClosed = errors.New("pgp: write after close")

func (a *asyncWriter) Write(p []byte) (int, error) {
	if a.queue == nil {
		return 0, errAsyncClosed
	}
	n := 0
	for len(p) > 0 {
		var b []byte
		select {
		case b = <-a.free:
		case <-a.fail:
			return n, a.failure()
		}
		k := copy(b[:cap(b)], p)
		b = b[:k]
		p = p[k:]
		a.queue <- b
		n += k
	}
	return n, nil
}

// failure is the goroutine's error once fail is closed.
func (a *asyncWriter) failure() error {
	<-a.fail
	return a.err
}

// Flush waits until everything written so far reached w.
func (a *asyncWriter) Flush() error {
	if a.queue == nil {
		return a.err
	}
	held := make([][]byte, 0, asyncDepth)
	for range asyncDepth {
		select {
		case b := <-a.free:
			held = append(held, b)
		case <-a.fail:
			for _, b := range held {
				a.free <- b
			}
			return a.failure()
		}
	}
	for _, b := range held {
		a.free <- b
	}
	return nil
}

// Close waits for every write to reach w and gives the buffers back.
func (a *asyncWriter) Close() error {
	if a.queue == nil {
		return nil
	}
	close(a.queue)
	a.queue = nil
	<-a.done
	for range asyncDepth {
		a.bufs.putChunk(<-a.free)
	}
	return a.err
}
