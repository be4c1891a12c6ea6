package structure

import (
	"errors"
	"io"
)

// Tap computes a message's structure from its bytes as they are written
// elsewhere (to a blob file), on a goroutine of its own, so the file is
// not read back a second time. Write never fails because of the message's
// content: Compute stops at nothing but a failed read, and the rest of the
// stream is drained.
type Tap struct {
	pw   *io.PipeWriter
	done chan tapResult
}

type tapResult struct {
	s   *Structure
	err error
}

// errTapAborted ends the walk of an aborted Tap.
var errTapAborted = errors.New("structure: tap aborted")

// NewTap starts a Tap. Finish or Abort must be called.
func NewTap() *Tap {
	pr, pw := io.Pipe()
	t := &Tap{pw: pw, done: make(chan tapResult, 1)}
	go func() {
		s, err := Compute(pr)
		io.Copy(io.Discard, pr) // never block the writer
		t.done <- tapResult{s, err}
	}()
	return t
}

// Write feeds the next bytes of the message.
func (t *Tap) Write(p []byte) (int, error) { return t.pw.Write(p) }

// Finish ends the message and returns its structure.
func (t *Tap) Finish() (*Structure, error) {
	t.pw.Close()
	r := <-t.done
	return r.s, r.err
}

// Abort ends the walk of a message that will not be kept.
func (t *Tap) Abort() {
	t.pw.CloseWithError(errTapAborted)
	<-t.done
}
