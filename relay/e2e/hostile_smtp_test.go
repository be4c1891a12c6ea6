package e2e_test

import (
	"encoding/base64"
	"strings"
	"testing"
)

// smtp sends a command and returns the last line of the reply.
func (l *lineConn) smtp(cmd string) string {
	l.send(cmd + "\r\n")
	return l.smtpReply()
}

func (l *lineConn) smtpReply() string {
	for {
		s := l.line()
		if len(s) < 4 || s[3] != '-' {
			return s
		}
	}
}

func (e *hostileNet) smtpConn(t *testing.T, auth bool) *lineConn {
	t.Helper()
	l := dialLine(t, e.p.info.SMTPAddr)
	if g := l.smtpReply(); !strings.HasPrefix(g, "220 ") {
		t.Fatalf("SMTP greeting %q", g)
	}
	if r := l.smtp("EHLO laptop.example"); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("EHLO: %q", r)
	}
	if auth {
		if r := l.smtp("AUTH PLAIN " + plain("jane", e.in.pass)); !strings.HasPrefix(r, "235 ") {
			t.Fatalf("AUTH: %q", r)
		}
	}
	return l
}

func plain(name, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + name + "\x00" + pass))
}

func smtpCases() []lineCase {
	unauth := func(cmd string) func(*testing.T, *hostileNet) string {
		return func(t *testing.T, e *hostileNet) string { return e.smtpConn(t, false).smtp(cmd) }
	}
	authd := func(cmds ...string) func(*testing.T, *hostileNet) string {
		return func(t *testing.T, e *hostileNet) string {
			l := e.smtpConn(t, true)
			var r string
			for _, c := range cmds {
				r = l.smtp(strings.ReplaceAll(c, "SOURCE", e.addrA))
			}
			return r
		}
	}
	// data sends a whole reply to source A and returns the answer to the
	// end of DATA.
	data := func(msg string) func(*testing.T, *hostileNet) string {
		return func(t *testing.T, e *hostileNet) string {
			l := e.smtpConn(t, true)
			for _, c := range []string{"MAIL FROM:<jane@newsroom.example>", "RCPT TO:<" + e.addrA + ">"} {
				if r := l.smtp(c); !strings.HasPrefix(r, "250 ") {
					t.Fatalf("%s: %q", c, r)
				}
			}
			if r := l.smtp("DATA"); !strings.HasPrefix(r, "354 ") {
				t.Fatalf("DATA: %q", r)
			}
			l.send(msg)
			r := l.smtpReply()
			// Nothing smuggled inside the message runs as a command: the
			// next answer is the NOOP's.
			if n := l.smtp("NOOP"); !strings.HasPrefix(n, "250 ") {
				t.Errorf("after the message, NOOP got %q (smuggled command answered?)", n)
			}
			return r
		}
	}
	const noRcpt = "550 5.1.1 No such recipient here: this server only takes replies to sources"
	const bareLF = "554 5.6.0 Message refused: bare CR or LF; lines must end in CRLF"
	hdr := "From: <jane@newsroom.example>\r\nTo: <x@y>\r\nSubject: hi\r\n"
	return []lineCase{
		{name: "MAIL before AUTH", do: unauth("MAIL FROM:<a@b.example>"), want: "530 5.7.0 Authentication required"},
		{name: "RCPT before AUTH", do: unauth("RCPT TO:<a@b.example>"), want: "502 5.5.1 Missing MAIL FROM command."},
		{name: "RCPT before MAIL", do: authd("RCPT TO:<SOURCE>"), want: "502 5.5.1 Missing MAIL FROM command."},
		{name: "DATA before RCPT", do: authd("MAIL FROM:<j@n.example>", "DATA"), want: "502 5.5.1 Missing RCPT TO command."},
		{name: "AUTH PLAIN wrong passphrase", do: func(t *testing.T, e *hostileNet) string {
			return e.smtpConn(t, false).smtp("AUTH PLAIN " + plain("decoy", "wrong "+e.decoy))
		}, want: "535 5.7.8 Authentication failed"},
		{name: "AUTH PLAIN unknown user", do: unauth("AUTH PLAIN " + plain("nobody", "x")), want: "535 5.7.8 Authentication failed"},
		{name: "AUTH PLAIN garbage base64", do: unauth("AUTH PLAIN !!!not-base64!!!"), want: "454 4.7.0 Invalid base64 data"},
		{name: "AUTH unknown mechanism", do: unauth("AUTH CRAM-MD5"), want: "504 5.7.4 Unsupported authentication mechanism"},
		{name: "AUTH twice", do: authd("AUTH PLAIN " + plain("jane", "x")), want: "503 5.5.1 Already authenticated"},
		{name: "RCPT at an external domain", do: authd("MAIL FROM:<j@n.example>", "RCPT TO:<someone@gmail.com>"), want: noRcpt},
		{name: "RCPT unknown source", do: func(t *testing.T, e *hostileNet) string {
			dom := e.addrA[strings.LastIndexByte(e.addrA, '@'):]
			return authd("MAIL FROM:<j@n.example>", "RCPT TO:<no.such.source"+dom+">")(t, e)
		}, want: noRcpt},
		{name: "RCPT with a malformed address", do: authd("MAIL FROM:<j@n.example>", "RCPT TO:<<<@@>>>"), want: "501 5.5.2 Was expecting RCPT arg syntax of TO:<address>"},
		{name: "two RCPTs", do: authd("MAIL FROM:<j@n.example>", "RCPT TO:<SOURCE>", "RCPT TO:<SOURCE>"), want: "452 4.5.3 Maximum limit of 1 recipients reached"},
		{name: "SIZE= of 4 GB", do: authd("MAIL FROM:<j@n.example> SIZE=4000000000"), want: "552 5.3.4 Max message size exceeded"},
		{name: "SIZE= beyond 32 bits", do: authd("MAIL FROM:<j@n.example> SIZE=10000000000"), want: "501 5.5.4 Unable to parse SIZE as an integer"},
		{name: "bare LF in DATA", do: data(hdr + "\r\nline one\nline two\r\n.\r\n"), want: bareLF},
		{name: "smuggling with LF.LF", do: data(hdr + "\r\nhello\n.\nMAIL FROM:<evil@x>\r\nRCPT TO:<evil@y>\r\nDATA\r\nsmuggled\r\n.\r\n"), want: bareLF},
		{name: "smuggling with CR.CR", do: data(hdr + "\r\nhello\r.\rNOOP\r\n.\r\n"), want: bareLF},
		{name: "S/MIME reply", do: data("From: <jane@newsroom.example>\r\nSubject: hi\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQAx\r\n.\r\n"),
			want: "550 5.7.1 this kind of encryption is not supported"},
		{name: "command line of 5000 bytes", do: unauth("NOOP " + strings.Repeat("x", 5000)), want: "500 5.4.0 Too long line, closing connection"},
		{name: "NOOP", do: unauth("NOOP"), want: "250 2.0.0 I have successfully done nothing"},
		{name: "RSET", do: authd("MAIL FROM:<j@n.example>", "RSET"), want: "250 2.0.0 Session reset"},
		{name: "HELP", do: unauth("HELP"), want: "502 5.5.1 HELP command not implemented"},
		{name: "VRFY", do: authd("VRFY jane"), want: "252 2.5.0 Cannot VRFY user, but will accept message"},
		{name: "EXPN", do: authd("EXPN staff"), want: "502 5.5.1 EXPN command not implemented"},
		{name: "unknown command", do: unauth("FROBNICATE now"), want: "501 5.5.2 Bad command"},
		{name: "NUL in a command", do: unauth("NO\x00OP"), want: "501 5.5.2 Bad command"},
	}
}
