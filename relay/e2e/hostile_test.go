package e2e_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	netmail "net/mail"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"

	"postern/mailbox/pgp"
	"postern/mailbox/store"
	"postern/tools/sourceclient"
)

// The hostile-input catalogue (DESIGN.md, "Limits and bad input"): every
// row sends one bad input to the real relay binary and names the exact
// answer it must get. After every network row the relay must still serve
// (the landing page, an IMAP NOOP, an SMTP greeting); at the end the relay
// stops cleanly, the store checks clean, and INBOX holds exactly the
// submissions that were confirmed. CLI, settings-file and key rows run the
// command line against their own instance, which must still work after
// every row and check clean at the end.
//
// No row is skipped: a known bug is a failing row, so the catalogue never
// hides a regression behind a note.
//
// This file holds the shared relay and the runners; the rows and their
// helpers are in hostile_http_test.go, hostile_imap_test.go,
// hostile_smtp_test.go and hostile_cli_test.go.

// hostileConf keeps the caps small so that "too large" costs little.
const hostileConf = cheapConf + "max_submission_mib = 1\nmax_message_chars = 2000\n"

// Texts of the web form (intake/web/messages_en.go), as the pages show them.
const (
	txtBad      = "The request could not be understood, and nothing was stored."
	txtCSRF     = "This form has expired or did not come from this site. Nothing was stored."
	txtExpired  = "Your session has ended, maybe because it was unused for a while. Nothing was sent."
	txtNotFound = "There is nothing at this address."
	txtMethod   = "That action is not possible at this address."
	txtUTF8     = "The text contained characters that could not be read. Nothing was stored."
	txtSubject  = "The subject must be a single line of up to 200 characters. Nothing was stored."
	txtMessage  = "The message is longer than 2,000 characters. Nothing was stored."
	txtTooLarge = "Your submission is larger than 1 MiB, so it was not stored."
	txtEmpty    = "There was nothing to send: write a message or choose a file."
	txtTooMany  = "You can send up to 100 files at once. Nothing was stored."
	txtUnknown  = "That codename was not recognised. Check each word and try again."
	txtInvalid  = "A codename is seven words from our list, separated by spaces. Check what you typed."
	txtLanding  = "Share information safely with"
	txtReceived = "Your submission was received and encrypted."
)

// isolates strips the Unicode bidi isolates (FSI, PDI) the form puts around
// every value formatted into a sentence, so rows can look for the text.
var isolates = strings.NewReplacer("\u2068", "", "\u2069", "")

// hostileNet is the one relay every network row talks to, and what the
// rows need to know about it.
type hostileNet struct {
	t        *testing.T
	in       *instance
	p        *relayProc
	decoy    string // a second journalist's passphrase: the target of wrong logins
	codeA    string // source A: submitted once
	codeB    string // source B: submitted once, has a reply with an attachment
	addrA    string // source A's address, for SMTP
	replyB   string // the id of B's reply
	accepted int    // submissions the form confirmed
	seq      int
}

// ---- a browser that can be made to misbehave ----

// alive asserts that every service still answers: the landing page, an
// IMAP NOOP on a new connection, an SMTP greeting and NOOP.
func (e *hostileNet) alive(t *testing.T) {
	t.Helper()
	if p := newBrowser(e.p.intakeURL()).get(t, "/"); p.status != 200 || !strings.Contains(p.body, txtLanding) {
		t.Fatalf("after the case the landing page is:\n%s", p)
	}
	l := e.imapConn(t, false)
	if r := l.imap("n", "NOOP"); !strings.HasPrefix(r, "n OK") {
		t.Fatalf("after the case IMAP NOOP gets %q", r)
	}
	l.c.Close()
	s := dialLine(t, e.p.info.SMTPAddr)
	if g := s.smtpReply(); !strings.HasPrefix(g, "220 ") {
		t.Fatalf("after the case the SMTP greeting is %q", g)
	}
	if r := s.smtp("NOOP"); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("after the case SMTP NOOP gets %q", r)
	}
	s.c.Close()
	select {
	case <-e.p.done:
		t.Fatalf("the relay exited: %v\n%s", e.p.err, e.p.stderr.Bytes())
	default:
	}
}

// uniq returns a name no other row uses.
func (e *hostileNet) uniq(prefix string) string {
	e.seq++
	return fmt.Sprintf("%s%d", prefix, e.seq)
}

// ---- setting the scene ----

func setupHostileNet(t *testing.T) *hostileNet {
	in := newInstance(t, hostileConf)
	e := &hostileNet{t: t, in: in}
	seed := sha256.Sum256([]byte(t.Name() + " decoy key"))
	dk, err := pgp.DeriveKey(seed[:], "Decoy <decoy@newsroom.example>")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pgp.Armor(dk)
	if err != nil {
		t.Fatal(err)
	}
	var added struct {
		Passphrase string `json:"passphrase"`
	}
	if err := json.Unmarshal(run(t, pub, "journalist", "add", "decoy", "--key", "-", "--data", in.dir, "--json"), &added); err != nil {
		t.Fatal(err)
	}
	e.decoy = added.Passphrase
	e.p = startRelay(t, in, &syncBuf{})
	c := ctx(t, 2*time.Minute)

	// Two sources, each with one submission; B gets a reply with a file.
	for i, cn := range []*string{&e.codeA, &e.codeB} {
		src := sourceclient.New(e.p.intakeURL(), nil)
		if *cn, err = src.NewCodename(c); err != nil {
			t.Fatal(err)
		}
		if err := src.Submit(c, "", fmt.Sprintf("hostile source %d", i)); err != nil {
			t.Fatal(err)
		}
		e.accepted++
	}
	ms, _ := inbox(t, e.p, in)
	for _, m := range ms {
		h, err := netmail.ReadMessage(bytes.NewReader(m.Raw))
		if err != nil {
			t.Fatal(err)
		}
		switch strings.TrimSpace(m.Dec.Text) {
		case "hostile source 0":
			a, err := netmail.ParseAddress(h.Header.Get("From"))
			if err != nil {
				t.Fatal(err)
			}
			e.addrA = a.Address
		case "hostile source 1":
			replyBySMTP(t, e.p, in, m, []string{"hostile reply", "hostile", "hostile-file", "content"})
		}
	}
	b := newBrowser(e.p.intakeURL())
	b.login(t, e.codeB)
	m := regexp.MustCompile(`/inbox/file/([^/"?]+)/0`).FindStringSubmatch(b.get(t, "/inbox").body)
	if m == nil || e.addrA == "" {
		t.Fatalf("set-up: no reply link on B's inbox page, or no address of A (%q)", e.addrA)
	}
	e.replyB = m[1]
	return e
}

type httpCase struct {
	name   string
	do     func(t *testing.T, e *hostileNet) page
	status int
	text   string
	absent string // must not appear in the body
	stored bool   // the form confirms: one more message in INBOX
}

type lineCase struct {
	name string
	do   func(t *testing.T, e *hostileNet) string // the answer that matters
	want string                                   // its exact expected prefix
}

// TestHostileNetwork runs the HTTP, IMAP and SMTP rows against one relay.
func TestHostileNetwork(t *testing.T) {
	t.Parallel() // with TestHostileCLI, which mostly waits for processes
	e := setupHostileNet(t)
	e.alive(t)
	hc, ic, sc := httpCases(), imapCases(), smtpCases()
	t.Logf("%d HTTP, %d IMAP, %d SMTP cases", len(hc), len(ic), len(sc))
	t.Run("HTTP", func(t *testing.T) {
		for _, c := range hc {
			t.Run(c.name, func(t *testing.T) {
				p := c.do(t, e)
				if p.status != c.status || !strings.Contains(p.body, c.text) {
					t.Errorf("got %s\nwant %d with %q", p, c.status, c.text)
				}
				if c.absent != "" && strings.Contains(p.body, c.absent) {
					t.Errorf("the page holds %q:\n%s", c.absent, p)
				}
				if c.stored && p.status == c.status {
					e.accepted++
				}
				e.alive(t)
			})
		}
	})
	lines := func(cases []lineCase) func(t *testing.T) {
		return func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					got := c.do(t, e)
					t.Logf("answer: %q", clipLine(got))
					if !strings.HasPrefix(got, c.want) {
						t.Errorf("got %q\nwant %q", clipLine(got), c.want)
					}
					e.alive(t)
				})
			}
		}
	}
	t.Run("IMAP", lines(ic))
	t.Run("SMTP", lines(sc))

	// Only the confirmed submissions are stored, each readable, every file
	// name safe; B's reply survived A's attempt to delete it.
	ms, _ := inbox(t, e.p, e.in)
	if len(ms) != e.accepted {
		t.Errorf("INBOX holds %d messages; the form confirmed %d", len(ms), e.accepted)
	}
	for _, m := range ms {
		for _, part := range m.Dec.Parts {
			if strings.ContainsAny(part.Name, `/\`) || strings.IndexFunc(part.Name, unicode.IsControl) >= 0 ||
				strings.ContainsRune(part.Name, '\u202e') || strings.HasPrefix(part.Name, ".") {
				t.Errorf("the journalist sees an unsafe file name %q", part.Name)
			}
		}
	}
	b := newBrowser(e.p.intakeURL())
	b.login(t, e.codeB)
	if p := b.get(t, "/inbox/file/"+e.replyB+"/0"); p.status != 200 || p.body != "content\r\n" && p.body != "content" {
		t.Errorf("B's own reply file: %s", p)
	}
	e.p.stop(t)
	checkStore(t, e.in.dir)
	if t.Failed() {
		t.Logf("relay stderr:\n%s", e.p.stderr.Bytes())
	}
}

func clipLine(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

func checkStore(t *testing.T, dir string) {
	t.Helper()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		t.Errorf("store check: %v", err)
	}
}

// ---- CLI, settings file, keys ----
