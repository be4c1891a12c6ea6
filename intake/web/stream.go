package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// The readers and writers an upload streams through, from the connection to
// the delivery: paceReader (idle and rate deadlines) → MaxBytesReader (hard cap)
// → tailReader (how the body ended) → multipart → clientReader (whose
// error) → limitWriter (content cap) → the delivery's File writer.

// limitWriter counts content bytes against MaxSubmissionBytes and tags
// write errors as the delivery's.
type limitWriter struct {
	w io.Writer
	u *upload
}

func (l *limitWriter) Write(p []byte) (int, error) {
	l.u.content += int64(len(p))
	if l.u.content > l.u.s.o.MaxSubmissionBytes {
		return 0, errTooLarge
	}
	n, err := l.w.Write(p)
	if err != nil {
		return n, errors.Join(errDelivery, err)
	}
	return n, nil
}

// clientReader remembers a read error so that a failed copy can be blamed
// on the right side.
type clientReader struct {
	r   io.Reader
	err error
}

func (c *clientReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// tailReader keeps the last bytes read, to check how the body ended. The
// multipart reader reads ahead in 4 KiB blocks, so the final boundary is
// within the last tailSize bytes when it was read at all.
type tailReader struct {
	r       io.Reader
	tail    []byte
	trimmed bool // bytes before tail were dropped
}

const tailSize = 8 << 10

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n >= tailSize {
		t.tail = append(t.tail[:0], p[n-tailSize:n]...)
		t.trimmed = true
	} else if n > 0 {
		if over := len(t.tail) + n - tailSize; over > 0 {
			t.tail = append(t.tail[:0], t.tail[over:]...)
			t.trimmed = true
		}
		t.tail = append(t.tail, p[:n]...)
	}
	return n, err
}

// endsWith reports whether the body read so far contains the final
// delimiter in its tail, at the start of a line (the multipart reader
// accepts LF as well as CRLF line ends).
func (t *tailReader) endsWith(delim string) bool {
	i := strings.LastIndex(string(t.tail), delim)
	return i == 0 && !t.trimmed || i >= 1 && t.tail[i-1] == '\n'
}

// paceReader moves the connection's read deadline at every read: to
// uploadIdleTimeout from now, or sooner, to the instant the average rate
// since start would fall below minRate with no more bytes (never before
// the grace period ends). A read cut by that second bound fails with
// errTooSlow: a client trickling a byte a minute cannot keep an upload slot
// by reading just often enough to beat the idle bound.
type paceReader struct {
	r       io.ReadCloser
	rc      *http.ResponseController
	start   time.Time
	minRate int64 // bytes a second; ≤ 0: no floor
	grace   time.Duration
	n       atomic.Int64
	evicted atomic.Bool // a newcomer took its slot (contest.go)
}

func (p *paceReader) Read(b []byte) (int, error) {
	if p.evicted.Load() {
		return 0, errTooSlow
	}
	now := time.Now()
	deadline, paced := now.Add(uploadIdleTimeout), false
	if p.minRate > 0 {
		due := p.start.Add(max(p.grace, time.Duration(p.n.Load()/p.minRate)*time.Second))
		if due.Before(deadline) {
			deadline, paced = due, true
		}
	}
	_ = p.rc.SetReadDeadline(deadline)
	if p.evicted.Load() { // evict's deadline may have been overwritten above
		return 0, errTooSlow
	}
	n, err := p.r.Read(b)
	p.n.Add(int64(n))
	if err != nil && (paced || p.evicted.Load()) && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, errTooSlow
	}
	return n, err
}

// evict ends the upload from another goroutine: a read in progress fails
// at once with errTooSlow, and so does every later one.
func (p *paceReader) evict() {
	p.evicted.Store(true)
	_ = p.rc.SetReadDeadline(time.Now())
}

// contestedRate is the upload's average rate in bytes a second, its age
// counted as at least the grace period: an upload that has sent nothing
// yet is the slowest, however young.
func (p *paceReader) contestedRate(now time.Time, grace time.Duration) float64 {
	age := max(now.Sub(p.start), grace, time.Millisecond)
	return float64(p.n.Load()) / age.Seconds()
}

func (p *paceReader) Close() error { return p.r.Close() }

// readCapped reads all of r, refusing more than max bytes.
func readCapped(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, classifyRead(err)
	}
	if int64(len(b)) > max {
		return nil, errTooLarge
	}
	return b, nil
}

// formPart parses a part's Content-Disposition. The file name is returned
// raw: the PGP/MIME writer sanitises it, in one place.
func formPart(cd string) (name, filename string, err error) {
	disp, params, err := mime.ParseMediaType(cd)
	if err != nil || disp != "form-data" || params["name"] == "" {
		return "", "", errBadForm
	}
	return params["name"], params["filename"], nil
}

// classifyRead turns a body read error into an upload error: over the byte
// cap → too large; a malformed multipart body → bad form; anything else
// (timeout, reset) → the client is gone.
func classifyRead(err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errTooSlow):
		return errTooSlow
	case errors.As(err, &mbe), errors.Is(err, errTooLarge):
		return errTooLarge
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.Join(errBadForm, err)
	}
	if strings.HasPrefix(err.Error(), "multipart:") {
		return errors.Join(errBadForm, err)
	}
	return errors.Join(errClient, err)
}
