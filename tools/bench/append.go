package main

import (
	"bufio"
	"fmt"
	"net"
	"time"

	"postern/tools/corpus"
	"postern/tools/dovecot"
)

// appendResult is the time spent in n APPENDs on one connection, and the
// server CPU meanwhile.
type appendResult struct {
	n                      int
	bytes                  int64
	postern, dovecot       time.Duration
	posternCPU, dovecotCPU time.Duration
}

// benchAppend APPENDs n plaintext messages of the realistic mix
// (corpus.PlainMessage, the Go benchmark's generator) to INBOX, one after
// the other's OK on one connection, first to the relay (which seals each
// to the journalist's key and makes it durable before OK) and then to a
// plain Dovecot (Maildir, its defaults: the file is fsynced before OK).
// Only the time from each APPEND command to its OK counts: making the
// message is the client's business.
func (e *env) benchAppend(n int) (appendResult, error) {
	r := appendResult{n: n}
	dovecotBin, err := need("dovecot")
	if err != nil {
		return r, err
	}
	in, err := e.newInstance("append", defaultPasswordKDF, 1)
	if err != nil {
		return r, err
	}
	dv, err := dovecot.Start(dovecotBin)
	if err != nil {
		return r, err
	}
	defer dv.Stop()
	p, err := e.start(in)
	if err != nil {
		return r, err
	}
	defer p.stop()
	sizes := corpus.Sizes(n)
	r.bytes = corpus.Total(sizes)
	j := in.js[0]
	if r.postern, r.posternCPU, err = appendLoop(p.info.IMAPAddr, j.name, j.pass, sizes, p.pid()); err != nil {
		return r, fmt.Errorf("postern: %w", err)
	}
	if r.dovecot, r.dovecotCPU, err = appendLoop(dv.Addr, "alice", dovecot.Password, sizes, dv.PID()); err != nil {
		return r, fmt.Errorf("dovecot: %w", err)
	}
	return r, nil
}

// appendLoop logs in and APPENDs one message per size, returning the sum
// of the APPENDs' times and the server's CPU over the loop.
func appendLoop(addr, user, pass string, sizes []int, root int) (time.Duration, time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	s := &imapLines{r: bufio.NewReader(c), w: c}
	c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := s.r.ReadString('\n'); err != nil {
		return 0, 0, err
	}
	if err := s.do("a LOGIN " + imapQuote(user) + " " + imapQuote(pass)); err != nil {
		return 0, 0, err
	}
	cpu0, err := treeCPU(root)
	if err != nil {
		return 0, 0, err
	}
	var total time.Duration
	for i, size := range sizes {
		msg := corpus.PlainMessage(i, size)
		c.SetDeadline(time.Now().Add(time.Minute))
		t0 := time.Now()
		if err := s.append("INBOX", msg); err != nil {
			return 0, 0, fmt.Errorf("message %d of %d: %w", i+1, len(sizes), err)
		}
		total += time.Since(t0)
		if (i+1)%1000 == 0 {
			progress("append: %d of %d", i+1, len(sizes))
		}
	}
	cpu1, err := treeCPU(root)
	if err != nil {
		return 0, 0, err
	}
	return total, cpu1 - cpu0, s.do("z LOGOUT")
}
