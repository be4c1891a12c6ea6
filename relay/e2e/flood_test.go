package e2e_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postern/tools/sourceclient"
)

// floodConf gives the sources' argon2id pool one worker and no queue, so
// that a handful of anonymous requests keeps it saturated: with one pool
// shared with the journalists (as before issue 12), every IMAP LOGIN and
// SMTP AUTH during the flood would answer busy.
const floodConf = `source_kdf_time = 1
delivery_window_minutes = 0
source_kdf_memory_kib = 8192
password_kdf_time = 1
password_kdf_memory_kib = 8192
kdf_workers = 1
kdf_queue = 0
log_level = debug
`

// An anonymous flood never reaches the journalists (DESIGN.md): dozens of
// concurrent "I am new" and wrong-codename logins, each with a fresh form
// token, saturate the sources' KDF pool while the journalist logs in over
// IMAP and SMTP with real clients, again and again. Every login succeeds.
// And the flood cannot take the shortcut of one token: a replay is refused.
func TestFloodNeverReachesJournalists(t *testing.T) {
	in := newInstance(t, floodConf)
	p := startRelay(t, in, &syncBuf{})
	base := p.intakeURL()

	// One GET feeds one POST: the second POST of the same token is refused.
	c := sourceclient.New(base, nil)
	tok, err := c.Token(t.Context(), "/")
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.Post(t.Context(), "/new", url.Values{"csrf": {tok}})
	if err != nil || first.Status != http.StatusOK {
		t.Fatalf("first POST /new: %v %d", err, first.Status)
	}
	replay, err := sourceclient.New(base, nil).Post(t.Context(), "/new", url.Values{"csrf": {tok}})
	if err != nil || replay.Status != http.StatusForbidden || !strings.Contains(replay.Body, txtCSRF) {
		t.Fatalf("replayed token: %v %d\n%s", err, replay.Status, replay.Body)
	}

	ctx, stop := context.WithCancel(t.Context())
	var busy, served atomic.Int64
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() { floodForm(ctx, base, i%4 == 0, &busy, &served) })
	}
	defer func() { stop(); wg.Wait() }()
	// The flood is on once the sources' pool has turned requests away.
	deadline := time.Now().Add(2 * time.Minute)
	for busy.Load() < 20 {
		if time.Now().After(deadline) {
			t.Fatalf("the flood never saturated the sources' pool (%d busy, %d served)", busy.Load(), served.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}

	for i := range 5 {
		imapLogin(t, p, in, i)
		smtpAuth(t, p, in, i)
	}
}

// floodForm presses "I am new" (or, with login, tries a wrong codename) as
// fast as the relay answers, fetching a fresh form each time, until ctx ends.
func floodForm(ctx context.Context, base string, login bool, busy, served *atomic.Int64) {
	c := sourceclient.New(base, nil)
	path, v := "/new", url.Values{}
	if login {
		path, v = "/login", url.Values{"codename": {"abacus abdomen abdominal abide abiding ability ablaze"}}
	}
	for ctx.Err() == nil {
		tok, err := c.Token(ctx, path)
		if err != nil {
			continue
		}
		v.Set("csrf", tok)
		pg, err := c.Post(ctx, path, v)
		switch {
		case err != nil:
		case pg.Status == http.StatusServiceUnavailable:
			busy.Add(1)
		default:
			served.Add(1)
		}
	}
}

// imapLogin logs the journalist in with go-imap's client and lists INBOX.
func imapLogin(t *testing.T, p *relayProc, in *instance, round int) {
	t.Helper()
	c, err := imapclient.DialInsecure(p.info.IMAPAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(in.name, in.pass).Wait(); err != nil {
		t.Fatalf("IMAP LOGIN %d during the flood: %v", round, err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT INBOX %d: %v", round, err)
	}
	c.Logout().Wait()
}

// smtpAuth authenticates the journalist with go-smtp's client, as a mail
// client does before sending a reply.
func smtpAuth(t *testing.T, p *relayProc, in *instance, round int) {
	t.Helper()
	c, err := smtp.Dial(p.info.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("laptop.example"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", in.name, in.pass)); err != nil {
		t.Fatalf("SMTP AUTH %d during the flood: %v", round, err)
	}
	c.Quit()
}
