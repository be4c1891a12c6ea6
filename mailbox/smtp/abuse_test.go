package smtpd

import (
	"encoding/base64"
	"errors"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postern/mailbox/store"
)

// rawConn speaks SMTP byte by byte, for what a well-behaved client
// library will not send.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	tp *textproto.Conn
}

func (e *env) raw() *rawConn {
	e.t.Helper()
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	e.t.Cleanup(func() { c.Close() })
	r := &rawConn{t: e.t, c: c, tp: textproto.NewConn(c)}
	if code, msg := r.resp(); code != 220 {
		e.t.Fatalf("greeting %d %s", code, msg)
	}
	return r
}

func (r *rawConn) resp() (int, string) {
	r.t.Helper()
	code, msg, err := r.tp.ReadResponse(0)
	if err != nil && code == 0 {
		r.t.Fatalf("reading response: %v", err)
	}
	return code, msg
}

func (r *rawConn) write(s string) {
	r.t.Helper()
	if _, err := r.c.Write([]byte(s)); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawConn) cmd(line string) (int, string) {
	r.t.Helper()
	r.write(line + "\r\n")
	return r.resp()
}

func (r *rawConn) expect(line string, want int) {
	r.t.Helper()
	if code, msg := r.cmd(line); code != want {
		r.t.Fatalf("%q: got %d %s, want %d", line, code, msg, want)
	}
}

// login greets and authenticates with AUTH PLAIN.
func (r *rawConn) login(name, pass string) {
	r.t.Helper()
	r.expect("EHLO laptop.example", 250)
	r.expect("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00"+name+"\x00"+pass)), 235)
}

func (e *env) nothingStored() {
	e.t.Helper()
	if reps, err := e.st.Replies(e.src.ID); err != nil || len(reps) != 0 {
		e.t.Errorf("replies stored: %d (%v)", len(reps), err)
	}
	js, err := e.st.Journalists()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, j := range js {
		if n := len(e.inbox(j.Name)); n != 0 {
			e.t.Errorf("%s got %d messages", j.Name, n)
		}
	}
	if err := e.st.Check(); err != nil {
		e.t.Error(err)
	}
}

func smtpCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func TestRecipientsRefused(t *testing.T) {
	e := newEnv(t)
	other, _, _ := e.addSource("other source")
	for _, rcpt := range []string{
		"someone@gmail.com",                       // open relay probe
		"quixotic.tangerine@gmail.com",            // right local part, wrong domain
		"quixotic.tangerine@postern.test.evil.io", // suffix trick
		"nobody.here@" + domain,                   // unknown source
		"newsroom@" + domain,
		"jane@" + domain, // a journalist is not a recipient
		"postmaster@" + domain,
	} {
		c := e.dial("jane")
		if err := c.Mail("jane@home.example", nil); err != nil {
			t.Fatal(err)
		}
		err := c.Rcpt(rcpt, nil)
		if smtpCode(err) != 550 {
			t.Errorf("RCPT %s: got %v, want 550", rcpt, err)
		} else if strings.Contains(err.Error(), domain) || strings.Contains(err.Error(), "source does not") {
			t.Errorf("RCPT %s: refusal says too much: %v", rcpt, err)
		}
	}

	// Two recipients: the second is refused, even another real source.
	c := e.dial("jane")
	if err := c.Mail("", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt(strings.ToUpper(e.src.Address), nil); err != nil {
		t.Fatalf("first recipient (upper case): %v", err)
	}
	if err := c.Rcpt(other.Address, nil); smtpCode(err) != 452 && smtpCode(err) != 550 {
		t.Fatalf("second recipient: got %v, want 452", err)
	}
	e.nothingStored()
}

func TestAuthenticationEnforced(t *testing.T) {
	e := newEnv(t)
	// No AUTH: MAIL is refused, and so is RCPT and DATA after it.
	r := e.raw()
	r.expect("EHLO laptop.example", 250)
	r.expect("MAIL FROM:<jane@home.example>", 530)
	r.expect("RCPT TO:<"+e.src.Address+">", 502) // go-smtp: MAIL first
	r.expect("DATA", 502)

	// A wrong passphrase.
	c, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "jane", "wrong")); smtpCode(err) != 535 {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if err := c.Mail("jane@home.example", nil); smtpCode(err) != 530 {
		t.Fatalf("MAIL after a failed AUTH: %v", err)
	}
	// PLAIN with another authorisation identity.
	r = e.raw()
	r.expect("EHLO laptop.example", 250)
	r.expect("AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("bob\x00jane\x00"+password)), 535)

	// AUTH LOGIN works, as Thunderbird may use it.
	r = e.raw()
	r.expect("EHLO laptop.example", 250)
	r.expect("AUTH LOGIN", 334)
	r.expect(base64.StdEncoding.EncodeToString([]byte("jane")), 334)
	r.expect(base64.StdEncoding.EncodeToString([]byte(password)), 235)
	r.expect("MAIL FROM:<jane@home.example>", 250)

	e.nothingStored()
}

// TestGuessesSlowButNeverLockOut: wrong guesses slow bob's logins down
// (issue 12 finding 7), and the right passphrase is still accepted.
func TestGuessesSlowButNeverLockOut(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 3; i++ {
		c := e.dial("")
		if err := c.Auth(sasl.NewPlainClient("", "bob", "guess")); smtpCode(err) != 535 {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if l := e.srv.Throttle().Locks(); len(l) != 1 || l[0].Name != "bob" || l[0].Delay == 0 {
		t.Fatalf("locks %+v", l)
	}
	c := e.dial("")
	if err := c.Auth(sasl.NewPlainClient("", "bob", password)); err != nil {
		t.Fatalf("right passphrase while slowed: %v", err)
	}
}

func TestOversizedRefused(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxMessageBytes = 32 << 10 })
	body := "Subject: big\r\n\r\n" + strings.Repeat("ZQXMARKERBIG 0123456789 0123456789 0123456789\r\n", 2000)
	if err := e.send("jane", e.src.Address, []byte(body)); smtpCode(err) != 552 {
		t.Fatalf("oversized: %v, want 552", err)
	}
	r := e.raw()
	r.login("jane", password)
	r.expect("MAIL FROM:<jane@home.example> SIZE=1000000", 552)
	// The connection is still usable for a reply that fits.
	if err := e.send("jane", e.src.Address, crlf("Subject: small\n\nfits\n")); err != nil {
		t.Fatal(err)
	}
	if reps := e.replies(); len(reps) != 1 || !strings.Contains(reps[0].Text, "fits") {
		t.Fatalf("replies %+v", reps)
	}
	e.grepDataDir("ZQXMARKERBIG")
}

// TestSmugglingRefused sends the known SMTP smuggling end-of-data
// variants, each followed by a second, smuggled transaction. The server
// must see one message, refuse it for its bare CR or LF, and never run the
// smuggled commands.
func TestSmugglingRefused(t *testing.T) {
	e := newEnv(t)
	other, _, _ := e.addSource("other source")
	for _, seq := range []string{"\n.\n", "\r.\n", "\n.\r\n", "\r\n.\n", "\r.\r\n", "\n\n", "\r\r\n"} {
		r := e.raw()
		r.login("jane", password)
		r.expect("MAIL FROM:<jane@home.example>", 250)
		r.expect("RCPT TO:<"+e.src.Address+">", 250)
		r.expect("DATA", 354)
		r.write("Subject: first\r\n\r\nfirst ZQXMARKERSMUG" + seq +
			"MAIL FROM:<jane@home.example>\r\nRCPT TO:<" + other.Address + ">\r\nDATA\r\n" +
			"Subject: smuggled\r\n\r\nsmuggled ZQXMARKERSMUG\r\n.\r\n")
		if code, msg := r.resp(); code != 554 {
			t.Errorf("%q: end of data answered %d %s, want 554", seq, code, msg)
		}
		// The next answer is to QUIT: nothing of the smuggled
		// transaction ran.
		if code, msg := r.cmd("QUIT"); code != 221 {
			t.Errorf("%q: QUIT answered %d %s: smuggled commands ran", seq, code, msg)
		}
	}
	e.nothingStored()
	if reps, _ := e.st.Replies(other.ID); len(reps) != 0 {
		t.Fatalf("the smuggled message was stored")
	}
	e.grepDataDir("ZQXMARKERSMUG")
}

func TestBareLineEndsRefused(t *testing.T) {
	e := newEnv(t)
	for _, body := range []string{
		"Subject: x\nhello\r\n",              // bare LF in the header
		"Subject: x\r\n\r\nhello\nworld\r\n", // bare LF in the body
		"Subject: x\r\n\r\nhello\rworld\r\n", // bare CR
		"Subject: x\r\n\r\nhello\r\r\n",      // CR before CRLF
	} {
		r := e.raw()
		r.login("jane", password)
		r.expect("MAIL FROM:<jane@home.example>", 250)
		r.expect("RCPT TO:<"+e.src.Address+">", 250)
		r.expect("DATA", 354)
		// A blank line before the end: go-smtp does not see "\r\r\n" as
		// a line end (it never re-reads the byte after a lone CR), so
		// "\r\r\n.\r\n" does not end DATA there; the check still refuses.
		r.write(body + "\r\n.\r\n")
		if code, msg := r.resp(); code != 554 {
			t.Errorf("%q: got %d %s, want 554", body, code, msg)
		}
	}
	// BDAT (CHUNKING, always offered by go-smtp) carries no dot-stuffing,
	// but the same check applies.
	r := e.raw()
	r.login("jane", password)
	r.expect("MAIL FROM:<jane@home.example>", 250)
	r.expect("RCPT TO:<"+e.src.Address+">", 250)
	chunk := "Subject: x\r\n\r\nbdat\n.\nbody\r\n"
	r.write("BDAT " + itoa(len(chunk)) + " LAST\r\n" + chunk)
	if code, msg := r.resp(); code != 554 {
		t.Errorf("BDAT with bare LF: got %d %s, want 554", code, msg)
	}
	e.nothingStored()
}

func TestBDATReply(t *testing.T) {
	e := newEnv(t)
	r := e.raw()
	r.login("jane", password)
	r.expect("MAIL FROM:<jane@home.example>", 250)
	r.expect("RCPT TO:<"+e.src.Address+">", 250)
	chunk := "Subject: chunked\r\n\r\nsent with BDAT\r\n"
	r.write("BDAT " + itoa(len(chunk)) + " LAST\r\n" + chunk)
	if code, msg := r.resp(); code != 250 {
		t.Fatalf("BDAT: %d %s", code, msg)
	}
	if reps := e.replies(); len(reps) != 1 || !strings.Contains(reps[0].Text, "sent with BDAT") {
		t.Fatalf("replies %+v", reps)
	}
}

func TestTooLongLineDropsConnection(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxLineLength = 1000 })
	r := e.raw()
	r.login("jane", password)
	r.expect("MAIL FROM:<jane@home.example>", 250)
	r.expect("RCPT TO:<"+e.src.Address+">", 250)
	r.expect("DATA", 354)
	r.write("Subject: x\r\n\r\n" + strings.Repeat("a", 5000) + "\r\n.\r\n")
	if code, _ := r.resp(); code < 400 {
		t.Fatalf("too long a line accepted: %d", code)
	}
	e.nothingStored()
}

func itoa(n int) string { return strconv.Itoa(n) }

// A silent connection is dropped after ReadTimeout, in any state,
// including in the middle of DATA. Everything up to the cut body goes in
// one write, so no pause of a loaded machine between two commands can meet
// the short timeout first.
func TestSilentConnectionDropped(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ReadTimeout = 200 * time.Millisecond })
	r := e.raw()
	r.write("EHLO laptop.example\r\nAUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00jane\x00"+password)) + "\r\n" +
		"MAIL FROM:<jane@home.example>\r\nRCPT TO:<" + e.src.Address + ">\r\nDATA\r\nSubject: slow\r\n\r\npart of a body")
	for i, want := range []int{250, 235, 250, 250, 354} {
		if code, msg := r.resp(); code != want {
			t.Fatalf("answer %d: %d %s, want %d", i, code, msg, want)
		}
	}
	buf := make([]byte, 512)
	for {
		if _, err := r.c.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the server kept a silent connection open for 30 seconds")
			}
			break // closed by the server
		}
	}
	e.nothingStored()
}

// A journalist revoked while connected (passphrase reset, removal) cannot
// send on the open session.
func TestRevokedSessionRefused(t *testing.T) {
	e := newEnv(t)
	r := e.raw()
	r.login("jane", password)
	r.expect("MAIL FROM:<jane@home.example>", 250)
	r.expect("RSET", 250)
	if err := e.st.UpdateJournalist("jane", func(j *store.Journalist) error {
		j.PasswordHash = "$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	r.expect("MAIL FROM:<jane@home.example>", 530)

	r = e.raw()
	r.login("bob", password)
	r.expect("MAIL FROM:<bob@home.example>", 250)
	r.expect("RCPT TO:<"+e.src.Address+">", 250)
	if err := e.st.RemoveJournalist("bob"); err != nil {
		t.Fatal(err)
	}
	r.expect("DATA", 354)
	r.write("Subject: x\r\n\r\nfrom a lost laptop\r\n.\r\n")
	if code, msg := r.resp(); code != 530 {
		t.Fatalf("DATA from a removed journalist: %d %s", code, msg)
	}
	e.nothingStored()
}

// A message the parser cannot read is refused, and the log does not quote
// it (parser errors do).
func TestMalformedRefusedWithoutLogging(t *testing.T) {
	e := newEnv(t)
	msg := crlf("Subject: ok\nbad header line ZQXMARKERLOG without a colon\n\nbody ZQXMARKERLOG\n")
	err := e.send("jane", e.src.Address, msg)
	if smtpCode(err) != 550 {
		t.Fatalf("got %v, want 550", err)
	}
	if strings.Contains(err.Error(), "ZQXMARKERLOG") {
		t.Errorf("the refusal quotes the message: %v", err)
	}
	e.settle() // all the server counts for the session is counted
	if strings.Contains(e.counted(), "ZQXMARKERLOG") {
		t.Errorf("the log quotes the message:\n%s", e.counted())
	}
	e.nothingStored()
}
