package e2e_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

type lineConn struct {
	t    *testing.T
	c    net.Conn
	r    *bufio.Reader
	seen []string // every line read, for failure messages
}

func dialLine(t *testing.T, addr string) *lineConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	lc := &lineConn{t: t, c: c, r: bufio.NewReaderSize(c, 64<<10)}
	t.Cleanup(func() { c.Close() })
	return lc
}

func (l *lineConn) send(s string) {
	if _, err := io.WriteString(l.c, s); err != nil {
		l.seen = append(l.seen, "(write: "+err.Error()+")")
	}
}

// line reads one line without its line end; at EOF or timeout it returns
// a description starting with "(".
func (l *lineConn) line() string {
	s, err := l.r.ReadString('\n')
	s = strings.TrimRight(s, "\r\n")
	if err != nil {
		s = fmt.Sprintf("(%v after %q)", err, s)
	}
	l.seen = append(l.seen, s)
	return s
}

// imap sends "tag cmd" and returns the tagged completion, a continuation
// request or a BYE, whichever comes first.
func (l *lineConn) imap(tag, cmd string) string {
	l.send(tag + " " + cmd + "\r\n")
	return l.imapWait(tag)
}

// imapLiterals is imap for a command whose answer carries literals: their
// bytes are read whole, never taken for lines.
func (l *lineConn) imapLiterals(tag, cmd string) string {
	l.send(tag + " " + cmd + "\r\n")
	for {
		s := l.line()
		if i := strings.LastIndexByte(s, '{'); i >= 0 && strings.HasSuffix(s, "}") {
			if n, err := strconv.Atoi(s[i+1 : len(s)-1]); err == nil {
				if _, err := io.CopyN(io.Discard, l.r, int64(n)); err != nil {
					return fmt.Sprintf("(literal: %v)", err)
				}
				continue
			}
		}
		if strings.HasPrefix(s, tag+" ") || strings.HasPrefix(s, "(") {
			return s
		}
	}
}

func (l *lineConn) imapWait(tag string) string {
	for {
		s := l.line()
		if strings.HasPrefix(s, tag+" ") || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "* BYE") || strings.HasPrefix(s, "(") {
			return s
		}
	}
}

// hangs bounds a read that a buggy server would leave waiting.
func (l *lineConn) hangs() *lineConn {
	l.c.SetDeadline(time.Now().Add(3 * time.Second))
	return l
}

func imapQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func (e *hostileNet) imapConn(t *testing.T, login bool) *lineConn {
	t.Helper()
	l := dialLine(t, e.p.info.IMAPAddr)
	if g := l.line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("IMAP greeting %q", g)
	}
	if login {
		if r := l.imap("L", "LOGIN jane "+imapQuote(e.in.pass)); !strings.HasPrefix(r, "L OK") {
			t.Fatalf("IMAP LOGIN: %q", r)
		}
	}
	return l
}

func imapCases() []lineCase {
	one := func(login bool, cmd string) func(*testing.T, *hostileNet) string {
		return func(t *testing.T, e *hostileNet) string { return e.imapConn(t, login).imap("a", cmd) }
	}
	sel := func(cmd string) func(*testing.T, *hostileNet) string {
		return func(t *testing.T, e *hostileNet) string {
			l := e.imapConn(t, true)
			if r := l.imap("s", "SELECT INBOX"); !strings.HasPrefix(r, "s OK") {
				t.Fatalf("SELECT INBOX: %q", r)
			}
			return l.imap("a", cmd)
		}
	}
	const (
		needAuth = "a BAD [CLIENTBUG] This command is only valid in the authenticated state"
		needSel  = "a BAD [CLIENTBUG] This command is only valid in the selected state"
		authFail = "a NO [AUTHENTICATIONFAILED] Authentication failed"
		// A client's syntax error is a BAD, never the server's fault.
		syntaxErr = "a BAD [CLIENTBUG] Syntax error in the command's arguments"
	)
	return []lineCase{
		{name: "SELECT before LOGIN", do: one(false, "SELECT INBOX"), want: needAuth},
		{name: "FETCH before LOGIN", do: one(false, "FETCH 1:* (FLAGS)"), want: needSel},
		{name: "APPEND before LOGIN", do: one(false, "APPEND INBOX {5}"), want: "a NO [TOOBIG] Literals are limited to 0 bytes for this command"},
		{name: "IDLE before LOGIN", do: one(false, "IDLE"), want: needAuth},
		{name: "untagged command", do: func(t *testing.T, e *hostileNet) string {
			return e.imapConn(t, false).imap("*", "NOOP")
		}, want: "* BAD [CLIENTBUG] Syntax error: a command starts with a tag"},
		{name: "empty line", do: func(t *testing.T, e *hostileNet) string {
			l := e.imapConn(t, false)
			l.send("\r\n")
			return l.imapWait("*")
		}, want: "* BAD [CLIENTBUG] Syntax error: a command starts with a tag"},
		{name: "tag with a bad character", do: one(false, "a{b NOOP"), want: "a BAD Unknown command"},
		{name: "unknown command", do: one(false, "FROBNICATE"), want: "a BAD Unknown command"},
		{name: "LOGIN wrong passphrase", do: func(t *testing.T, e *hostileNet) string {
			return e.imapConn(t, false).imap("a", "LOGIN decoy "+imapQuote("wrong "+e.decoy))
		}, want: authFail},
		{name: "LOGIN unknown user", do: one(false, `LOGIN nobody "whatever"`), want: authFail},
		// Guesses slow a name down but never lock it (issue 12 finding 7):
		// with the one above, three failures; the right passphrase then
		// waits its turn (a second) and is accepted.
		{name: "LOGIN right passphrase after guesses", do: func(t *testing.T, e *hostileNet) string {
			l := e.imapConn(t, false)
			for i := range 2 {
				if r := l.imap("w", fmt.Sprintf("LOGIN decoy \"guess %d\"", i)); !strings.HasPrefix(r, "w NO") {
					return r
				}
			}
			return l.imap("a", "LOGIN decoy "+imapQuote(e.decoy))
		}, want: "a OK"},
		{name: "LOGIN announcing a 100 MB literal", do: func(t *testing.T, e *hostileNet) string {
			return e.imapConn(t, false).hangs().imap("a", "LOGIN {100000000}")
		}, want: "a NO [TOOBIG] Literals are limited to 4096 bytes for this command"},
		{name: "unterminated quoted string", do: func(t *testing.T, e *hostileNet) string {
			return e.imapConn(t, false).hangs().imap("a", `LOGIN "jane`)
		}, want: "a BAD [CLIENTBUG] Syntax error: a quoted string is cut by the end of the line"},
		{name: "mailbox name as a 100 KB literal", do: func(t *testing.T, e *hostileNet) string {
			return e.imapConn(t, true).hangs().imap("a", "SELECT {100000}")
		}, want: "a NO [TOOBIG] Literals are limited to 4096 bytes for this command"},
		{name: "APPEND with its mailbox name as a 100 KB literal", do: func(t *testing.T, e *hostileNet) string {
			return e.imapConn(t, true).hangs().imap("a", "APPEND {100000}")
		}, want: "a NO [TOOBIG] Literals are limited to 4096 bytes for this command"},
		{name: "non-synchronizing literal of 100 MB", do: func(t *testing.T, e *hostileNet) string {
			l := e.imapConn(t, false).hangs()
			r := l.imap("a", "LOGIN {100000000+}")
			l.line() // the relay must close the connection
			return r + " / " + l.seen[len(l.seen)-1]
		}, want: "* BYE Non-synchronizing literals are limited to 4096 bytes / (EOF after \"\")"},
		{name: "quoted string cut after a literal", do: func(t *testing.T, e *hostileNet) string {
			l := e.imapConn(t, false).hangs()
			if r := l.imap("a", "LOGIN {4}"); !strings.HasPrefix(r, "+") {
				return r
			}
			l.send(`jane "pass` + "\r\n")
			return l.imapWait("a")
		}, want: "* BYE Syntax error: a quoted string is cut by the end of the line"},
		{name: "ten lines of garbage", do: func(t *testing.T, e *hostileNet) string {
			l := e.imapConn(t, false).hangs()
			for range 9 {
				if r := l.imap("*", "GARBAGE"); !strings.HasPrefix(r, "* BAD") {
					return r
				}
			}
			return l.imap("*", "GARBAGE")
		}, want: "* BYE Too many syntax errors"},
		{name: "literal with lines that look like continuations", do: func(t *testing.T, e *hostileNet) string {
			// A message whose lines start with "+" and "* BYE", fetched,
			// then an IDLE: the relay must keep telling its own
			// continuation requests from message text. The relay seals a
			// plaintext APPEND, so what comes back is armor, whose base64
			// lines start with "+" one time in 64: 20 KB make a few.
			l := e.imapConn(t, true).hangs()
			box := e.uniq("Plus")
			if r := l.imap("c", "CREATE "+box); !strings.HasPrefix(r, "c OK") {
				return r
			}
			msg := "Subject: x\r\n\r\n" + strings.Repeat("+ idling\r\n* BYE\r\n{5}\r\n+ Ready for literal data\r\n", 400)
			if r := l.imap("p", fmt.Sprintf("APPEND %s {%d}", box, len(msg))); !strings.HasPrefix(r, "+") {
				return r
			}
			l.send(msg + "\r\n")
			if r := l.imapWait("p"); !strings.HasPrefix(r, "p OK") {
				return r
			}
			if r := l.imap("s", "SELECT "+box); !strings.HasPrefix(r, "s OK") {
				return r
			}
			if r := l.imapLiterals("f", "FETCH 1 BODY.PEEK[]"); !strings.HasPrefix(r, "f OK") {
				return r
			}
			if r := l.imap("i", "IDLE"); !strings.HasPrefix(r, "+") {
				return r
			}
			l.send("DONE\r\n")
			if r := l.imapWait("i"); !strings.HasPrefix(r, "i OK") {
				return r
			}
			return l.imap("a", "NOOP")
		}, want: "a OK NOOP completed"},
		{name: "literal cut by a closed connection", do: func(t *testing.T, e *hostileNet) string {
			l := e.imapConn(t, false)
			r := l.imap("a", "LOGIN jane {20}")
			l.send("short")
			l.c.(*net.TCPConn).CloseWrite()
			l.line() // EOF or BYE; either way the relay must live on
			return r
		}, want: "+ Ready for literal data"},
		{name: "NUL in a command", do: one(false, "NO\x00OP"), want: "a BAD Unknown command"},
		{name: "100 KB command line", do: one(false, "NOOP "+strings.Repeat("x", 100<<10)), want: "a BAD [CLIENTBUG] Syntax error: expected CRLF"},
		{name: "LOGIN twice", do: one(true, "LOGIN jane x"), want: "a BAD [CLIENTBUG] This command is only valid in the not authenticated state"},
		{name: "STARTTLS not offered", do: one(false, "STARTTLS"), want: "a NO STARTTLS not supported"},
		{name: "AUTHENTICATE PLAIN with garbage base64", do: func(t *testing.T, e *hostileNet) string {
			l := e.imapConn(t, false)
			if r := l.imap("a", "AUTHENTICATE PLAIN"); !strings.HasPrefix(r, "+") {
				return r
			}
			l.send("!!!not base64!!!\r\n")
			return l.imapWait("a")
		}, want: "a BAD Malformed SASL response"},
		{name: "invalid modified UTF-7 mailbox name", do: one(true, `CREATE "&Jjo"`), want: "a NO Mailbox name is not valid modified UTF-7"}, // as Dovecot answers
		{name: "mailbox name with wildcards", do: one(true, `CREATE "a*b%c"`), want: "a NO [CANNOT] Invalid mailbox name"},
		{name: "SELECT nonexistent mailbox", do: one(true, "SELECT Nowhere"), want: "a NO [NONEXISTENT] No such mailbox"},
		{name: "DELETE INBOX", do: one(true, "DELETE INBOX"), want: "a NO [CANNOT] Operation not permitted on this mailbox"},
		{name: "CREATE INBOX", do: one(true, "CREATE inbox"), want: "a NO [ALREADYEXISTS] Mailbox already exists"},
		{name: "RENAME onto an existing mailbox", do: func(t *testing.T, e *hostileNet) string {
			l := e.imapConn(t, true)
			x, y := e.uniq("Folder"), e.uniq("Folder")
			for _, n := range []string{x, y} {
				if r := l.imap("c", "CREATE "+n); !strings.HasPrefix(r, "c OK") {
					t.Fatalf("CREATE %s: %q", n, r)
				}
			}
			return l.imap("a", "RENAME "+x+" "+y)
		}, want: "a NO [ALREADYEXISTS] Mailbox already exists"},
		{name: "FETCH with a bad sequence set", do: sel("FETCH 0:x (FLAGS)"), want: syntaxErr},
		{name: "FETCH sequence 0", do: sel("FETCH 0 (FLAGS)"), want: syntaxErr},
		{name: "FETCH unknown item", do: sel("FETCH 1 (BODY[BOGUS])"), want: "a BAD [CLIENTBUG] unknown body section specifier"},
		{name: "STORE with unbalanced flag list", do: sel(`STORE 1 +FLAGS (\Seen`), want: "a BAD [CLIENTBUG] Syntax error: expected SP"},
		{name: "STORE with an unknown item", do: sel(`STORE 1 FROBFLAGS (\Seen)`), want: "a BAD [CLIENTBUG] STORE can only change FLAGS"},
		{name: "SEARCH garbage", do: sel("SEARCH FROBBLE 12"), want: syntaxErr},
		{name: "10000 nested parentheses", do: sel("FETCH 1 " + strings.Repeat("(", 10000) + "FLAGS" + strings.Repeat(")", 10000)), want: "a BAD [CLIENTBUG] Syntax error: expected msg-att name"},
		{name: "COPY with no mailbox selected", do: one(true, "COPY 1 INBOX"), want: needSel},
		{name: "APPEND of 60 MB", do: one(true, "APPEND INBOX {60000000}"), want: "a NO [TOOBIG] Literals are limited to 52428800 bytes for this command"},
		{name: "APPEND to a nonexistent mailbox", do: func(t *testing.T, e *hostileNet) string {
			l := e.imapConn(t, true)
			body := "Subject: x\r\n\r\nhello\r\n"
			r := l.imap("a", fmt.Sprintf("APPEND Nowhere {%d}", len(body)))
			if !strings.HasPrefix(r, "+") {
				return r
			}
			l.send(body + "\r\n")
			return l.imapWait("a")
		}, want: "a NO [TRYCREATE] No such mailbox"},
		{name: "IDLE before SELECT then garbage", do: func(t *testing.T, e *hostileNet) string {
			l := e.imapConn(t, true)
			r := l.imap("a", "IDLE")
			if !strings.HasPrefix(r, "+") {
				return r
			}
			l.send("NOT DONE\r\n")
			return l.imapWait("a")
		}, want: "a BAD [CLIENTBUG] Syntax error: expected DONE to end IDLE command"},
		// MatchList backtracks exponentially: 10 wildcards against a
		// 20-character name took seconds of CPU, 16 take many minutes. A
		// linear matcher answers at once; 30 s is only a generous bound
		// against a loaded machine, not a performance assertion.
		{name: "LIST with a pathological pattern", do: func(t *testing.T, e *hostileNet) string {
			l := e.imapConn(t, true)
			long := e.uniq(strings.Repeat("a", 20))
			if r := l.imap("c", "CREATE "+long); !strings.HasPrefix(r, "c OK") {
				t.Fatalf("CREATE: %q", r)
			}
			l.c.SetDeadline(time.Now().Add(time.Minute))
			start := time.Now()
			r := l.imap("a", `LIST "" "`+strings.Repeat("*%", 8)+`x"`)
			if d := time.Since(start); d > 30*time.Second {
				return fmt.Sprintf("(LIST took %v: %s)", d.Round(time.Millisecond), r)
			}
			return r
		}, want: "a OK LIST completed"},
	}
}
