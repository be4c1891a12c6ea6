package main

import (
	"bufio"
	"compress/flate"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// mailConnsResult is the relay's RSS as journalists' connections pile up,
// phase by phase, each phase's connections staying open.
type mailConnsResult struct {
	idle   int64
	phases []mailConnsPhase
}

type mailConnsPhase struct {
	what string
	n    int
	rss  int64 // after the phase, all connections so far still open
	per  int64 // (rss − previous rss) ÷ n
}

// benchMailConns measures what the journalists' connections cost at the
// default caps (docs/admin.md, "Connections"): the logged-in share of IMAP
// filled half with plain and half with COMPRESS=DEFLATE sessions, each
// idling on INBOX as Thunderbird's are; the not-logged-in share filled
// with silent connections; the same for SMTP. It is the yardstick for the
// caps: all of it must stay well under (e)'s 512 MiB.
// Logins use cheap argon2 settings, so that no 64 MiB block left to the
// collector is counted as a connection's.
func (e *env) benchMailConns() (mailConnsResult, error) {
	var r mailConnsResult
	// A newsroom of 50: one journalist may hold only 24 IMAP sessions.
	in, err := e.newInstance("mailconns", cheapKDF, 50)
	if err != nil {
		return r, err
	}
	p, err := e.start(in)
	if err != nil {
		return r, err
	}
	defer p.stop()
	next := 0
	j := func() journalist { next++; return in.js[next%len(in.js)] }
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	settle := func() (int64, error) {
		time.Sleep(2 * time.Second)
		rss, _, err := memory(p.pid())
		return rss, err
	}
	if r.idle, err = settle(); err != nil {
		return r, err
	}
	prev := r.idle
	phase := func(what string, n int, dial func() (net.Conn, error)) error {
		for i := range n {
			c, err := dial()
			if err != nil {
				return fmt.Errorf("%s, connection %d: %w", what, i+1, err)
			}
			open = append(open, c)
		}
		rss, err := settle()
		if err != nil {
			return err
		}
		r.phases = append(r.phases, mailConnsPhase{what, n, rss, (rss - prev) / int64(n)})
		prev = rss
		return nil
	}
	imapAddr, smtpAddr := p.info.IMAPAddr, p.info.SMTPAddr
	if err := phase("IMAP logged in, IDLE on INBOX", 300, func() (net.Conn, error) { return imapIdle(imapAddr, j(), false) }); err != nil {
		return r, err
	}
	if err := phase("SMTP logged in (EHLO, AUTH), silent", 150, func() (net.Conn, error) { return smtpAuthed(smtpAddr, j()) }); err != nil {
		return r, err
	}
	if err := phase("SMTP not logged in (silent)", 50, func() (net.Conn, error) { return silent(smtpAddr) }); err != nil {
		return r, err
	}
	// Within the 20 s login deadline: greeting read, then silence.
	if err := phase("IMAP not logged in (silent)", 200, func() (net.Conn, error) { return silent(imapAddr) }); err != nil {
		return r, err
	}
	// Last: the collector lets the heap grow to twice what is live, so
	// the other phases' garbage would be counted as theirs after this one.
	if err := phase("IMAP logged in, COMPRESS, IDLE on INBOX", 300, func() (net.Conn, error) { return imapIdle(imapAddr, j(), true) }); err != nil {
		return r, err
	}
	return r, nil
}

// silent connects, reads the greeting and says nothing more.
func silent(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// imapIdle logs in, optionally turns on COMPRESS=DEFLATE, selects INBOX
// and enters IDLE, then keeps only the socket: the client's own buffers
// and deflate state are left to the collector, so only the relay's cost
// is measured.
func imapIdle(addr string, j journalist, compress bool) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	var w io.Writer = c
	var fw *flate.Writer
	say := func(tag, line, want string) error {
		if _, err := io.WriteString(w, line+"\r\n"); err != nil {
			return err
		}
		if fw != nil {
			if err := fw.Flush(); err != nil {
				return err
			}
		}
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if strings.HasPrefix(l, want) {
				return nil
			}
			if strings.HasPrefix(l, tag+" ") {
				return fmt.Errorf("imap %s: %q", tag, strings.TrimSpace(l))
			}
		}
	}
	quoted := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(j.pass) + `"`
	err = func() error {
		if _, err := r.ReadString('\n'); err != nil {
			return err
		}
		if err := say("l", "l LOGIN "+j.name+" "+quoted, "l OK"); err != nil {
			return err
		}
		if compress {
			if err := say("z", "z COMPRESS DEFLATE", "z OK"); err != nil {
				return err
			}
			r = bufio.NewReader(flate.NewReader(r))
			fw, _ = flate.NewWriter(c, flate.BestSpeed)
			w = fw
		}
		if err := say("s", "s SELECT INBOX", "s OK"); err != nil {
			return err
		}
		return say("i", "i IDLE", "+")
	}()
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// smtpAuthed greets and logs in with AUTH PLAIN, then stays silent.
func smtpAuthed(addr string, j journalist) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(time.Minute))
	r := bufio.NewReader(c)
	expect := func(code string) error {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if !strings.HasPrefix(l, code) {
				return fmt.Errorf("smtp: %q, want %s", strings.TrimSpace(l), code)
			}
			if len(l) > 3 && l[3] == ' ' {
				return nil
			}
		}
	}
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + j.name + "\x00" + j.pass))
	err = func() error {
		if err := expect("220"); err != nil {
			return err
		}
		fmt.Fprintf(c, "EHLO laptop.example\r\n")
		if err := expect("250"); err != nil {
			return err
		}
		fmt.Fprintf(c, "AUTH PLAIN %s\r\n", auth)
		return expect("235")
	}()
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
