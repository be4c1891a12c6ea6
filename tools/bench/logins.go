package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"postern/tools/dovecot"
)

// loginsResult is the time and server CPU of n short sessions in a row on
// each server.
type loginsResult struct {
	n, dovecotN            int           // sessions on the relay and on Dovecot with ARGON2ID
	postern, dovecot       time.Duration // wall
	posternCPU, dovecotCPU time.Duration // server user+system
	// Dovecot with its static passdb (no hashing at all), n sessions: the
	// floor of what a login can cost it.
	static, staticCPU time.Duration
}

// maxArgon2Sessions bounds the sessions run against Dovecot with ARGON2ID
// hashes: each runs argon2id (its auth cache keeps the hash, not the
// verification), 0.3–0.4 s here, so 10,000 would take about an hour.
// Per-session figures are compared.
const maxArgon2Sessions = 300

// benchLogins plays curl fetching a mailbox message by message: n
// sessions one after the other, each connecting, logging in, selecting
// INBOX, fetching one message's flags and logging out. The relay keeps
// the journalists' argon2id (t=3, 64 MiB) with its verified-login cache;
// Dovecot gets ARGON2ID hashes of the same cost (doveadm pw's defaults)
// and its auth cache (auth_cache_size = 10M), for at most
// maxArgon2Sessions sessions; then Dovecot with its static passdb (no
// hash), which is what a login costs it when nothing is derived.
func (e *env) benchLogins(n int) (loginsResult, error) {
	r := loginsResult{n: n}
	dovecotBin, err := need("dovecot")
	if err != nil {
		return r, err
	}
	in, err := e.newInstance("logins", defaultPasswordKDF, 1)
	if err != nil {
		return r, err
	}
	dv, err := dovecot.StartWith(dovecotBin, dovecot.Options{Argon2Users: []string{"alice"}})
	if err != nil {
		return r, err
	}
	defer dv.Stop()
	// One message in each INBOX, so that every session's FETCH answers.
	msg := fmt.Appendf(nil, "From: a@newsroom.example\r\nSubject: note\r\n\r\n%s\r\n", strings.Repeat("x", 4000))
	if err := appendOne(dv.Addr, "alice", dovecot.Password, msg); err != nil {
		return r, fmt.Errorf("dovecot: %w", err)
	}
	p, err := e.start(in)
	if err != nil {
		return r, err
	}
	defer p.stop()
	j := in.js[0]
	if err := appendOne(p.info.IMAPAddr, j.name, j.pass, msg); err != nil {
		return r, fmt.Errorf("postern: %w", err)
	}
	if r.postern, r.posternCPU, err = loginLoop(p.info.IMAPAddr, j.name, j.pass, n, p.pid()); err != nil {
		return r, fmt.Errorf("postern: %w", err)
	}
	r.dovecotN = min(n, maxArgon2Sessions)
	if r.dovecot, r.dovecotCPU, err = loginLoop(dv.Addr, "alice", dovecot.Password, r.dovecotN, dv.PID()); err != nil {
		return r, fmt.Errorf("dovecot: %w", err)
	}
	dv.Stop()
	ds, err := dovecot.Start(dovecotBin)
	if err != nil {
		return r, err
	}
	defer ds.Stop()
	if err := appendOne(ds.Addr, "alice", dovecot.Password, msg); err != nil {
		return r, fmt.Errorf("dovecot: %w", err)
	}
	if r.static, r.staticCPU, err = loginLoop(ds.Addr, "alice", dovecot.Password, n, ds.PID()); err != nil {
		return r, fmt.Errorf("dovecot, static passdb: %w", err)
	}
	return r, nil
}

// loginLoop runs n sessions in a row and returns their wall time and the
// CPU the server (root and its process tree) used meanwhile.
func loginLoop(addr, user, pass string, n int, root int) (time.Duration, time.Duration, error) {
	cpu0, err := treeCPU(root)
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	for i := range n {
		if err := shortSession(addr, user, pass); err != nil {
			return 0, 0, fmt.Errorf("session %d of %d: %w", i+1, n, err)
		}
	}
	wall := time.Since(t0)
	cpu1, err := treeCPU(root)
	return wall, cpu1 - cpu0, err
}

// shortSession is one of curl's per-message sessions.
func shortSession(addr, user, pass string) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	s := &imapLines{r: bufio.NewReader(c), w: c}
	if _, err := s.r.ReadString('\n'); err != nil {
		return err
	}
	for _, cmd := range []string{
		"a LOGIN " + imapQuote(user) + " " + imapQuote(pass),
		"b SELECT INBOX",
		"c FETCH 1 (UID FLAGS)",
		"d LOGOUT",
	} {
		if err := s.do(cmd); err != nil {
			return err
		}
	}
	return nil
}

// appendOne logs in and APPENDs msg to INBOX.
func appendOne(addr, user, pass string, msg []byte) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	s := &imapLines{r: bufio.NewReader(c), w: c}
	if _, err := s.r.ReadString('\n'); err != nil {
		return err
	}
	if err := s.do("a LOGIN " + imapQuote(user) + " " + imapQuote(pass)); err != nil {
		return err
	}
	if err := s.append("INBOX", msg); err != nil {
		return err
	}
	return s.do("z LOGOUT")
}

// imapLines is a minimal IMAP client: one command at a time, answers read
// up to its tagged line (literals in answers are not expected).
type imapLines struct {
	r *bufio.Reader
	w io.Writer
}

// do sends one command and waits for its tagged OK.
func (s *imapLines) do(cmd string) error {
	if _, err := io.WriteString(s.w, cmd+"\r\n"); err != nil {
		return err
	}
	tag, _, _ := strings.Cut(cmd, " ")
	return s.tagged(tag)
}

func (s *imapLines) tagged(tag string) error {
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			return err
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				return fmt.Errorf("imap %s: %q", tag, strings.TrimSpace(l))
			}
			return nil
		}
	}
}

// append APPENDs msg with a synchronizing literal, as clients without
// LITERAL+ do (and as mbsync and Thunderbird do for large messages).
func (s *imapLines) append(mailbox string, msg []byte) error {
	if _, err := fmt.Fprintf(s.w, "p APPEND %s {%d}\r\n", mailbox, len(msg)); err != nil {
		return err
	}
	l, err := s.r.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(l, "+") {
		return fmt.Errorf("imap APPEND: %q", strings.TrimSpace(l))
	}
	if _, err := s.w.Write(msg); err != nil {
		return err
	}
	if _, err := io.WriteString(s.w, "\r\n"); err != nil {
		return err
	}
	return s.tagged("p")
}

func imapQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
