package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"postern/mailbox/pgp"
	"postern/mailbox/store"
	"postern/tools/privscan"
	"postern/tools/sourceclient"
)

// TestNoLogLineFromSources: nothing a source does writes a line to the log,
// in every configuration that used to produce one: a journalist whose key has
// lapsed (each submission and each reply copy logged a warning), a pool too
// busy to derive a codename, a write that fails (blobs/ is not writable), the
// daily retention pass configured. A line would carry the time of the
// source's action to the second: a timeline of sources. What the admin must
// know still reaches them, at times no source chooses: the lapsed key in the
// start-up report and in `relay status`, the counted failures in status and in
// the report at shutdown. Afterwards the privacy scan finds no file time of
// day in the data directory either.
func TestNoLogLineFromSources(t *testing.T) {
	conf := strings.Replace(cheapConf, "kdf_workers = 2\n", "kdf_workers = 1\nkdf_queue = 0\nretention_days = 30\n", 1)
	in := newInstance(t, conf)
	plantLapsedJournalist(t, in, "lapsed")
	logs := &syncBuf{}
	p := startRelay(t, in, logs)
	c := ctx(t, 4*time.Minute)

	// The start-up report names the lapsed key; once every service has
	// said it started, silence.
	services := 3 // ctl, intake, imap
	if p.info.SMTPAddr != "" {
		services++
	}
	start := waitLog(t, logs, func(b []byte) bool {
		return bytes.Contains(b, []byte("msg=report")) && bytes.Count(b, []byte(`msg="service started"`)) == services
	})
	if !bytes.Contains(start, []byte("journalist key no longer usable")) || !bytes.Contains(start, []byte("journalist=lapsed")) {
		t.Errorf("the start-up report does not name the lapsed key:\n%s", start)
	}
	mark := len(start)

	// A source with a lapsed key on the team: a first visit with a
	// submission and a file, a second visit (log in, read, submit again),
	// a mistyped codename.
	src := sourceclient.New(p.intakeURL(), nil)
	codename, err := src.NewCodename(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Submit(c, "first", "a first message",
		sourceclient.File{Name: "notes.txt", R: strings.NewReader(strings.Repeat("twenty kib of notes ", 1000))}); err != nil {
		t.Fatal(err)
	}
	again := sourceclient.New(p.intakeURL(), nil)
	if err := again.Login(c, codename); err != nil {
		t.Fatal(err)
	}
	if err := again.Submit(c, "", "a second message"); err != nil {
		t.Fatal(err)
	}
	if err := sourceclient.New(p.intakeURL(), nil).Login(c, codename+" typo"); err == nil {
		t.Fatal("a wrong codename logged in")
	}
	// The journalist answers; the team's copy leaves the lapsed key out.
	ms, _ := inbox(t, p, in)
	if len(ms) != 2 {
		t.Fatalf("INBOX holds %d messages, want 2", len(ms))
	}
	if p.info.SMTPAddr != "" {
		replyBySMTP(t, p, in, ms[0], []string{"reply text", "reply subject", "reply-file", "reply file content"})
		if pg, err := again.Inbox(c); err != nil || !strings.Contains(pg.Body, "reply text") {
			t.Errorf("the source does not see the reply (%v)", err)
		}
	}
	// A busy pool: newcomers arrive together until one gets the busy page.
	if n := floodNew(t, p, c); n == 0 {
		t.Fatal("no newcomer was refused as busy: the busy configuration was not exercised")
	}
	noDateHeader(t, p)
	// A failed write: blobs/ is replaced by a file for one submission.
	blobs := filepath.Join(in.dir, "blobs")
	if err := os.Rename(blobs, blobs+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blobs, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := again.Submit(c, "", "this one cannot be written"); err == nil {
		t.Error("a submission was acknowledged with blobs/ unwritable")
	}
	if err := os.Remove(blobs); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(blobs+".away", blobs); err != nil {
		t.Fatal(err)
	}
	// The renames were the test's, not the relay's: give back the day.
	if err := store.DayTimes(in.dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := again.Submit(c, "", "written again"); err != nil {
		t.Fatalf("after the disk came back: %v", err)
	}

	if after := logs.Bytes()[mark:]; len(bytes.TrimSpace(after)) != 0 {
		t.Errorf("the relay logged because sources acted:\n%s", after)
	}

	// The admin learns it all without times: status names the lapsed key
	// and counts the failed write.
	st := relayStatus(t, in)
	if len(st.LapsedKeys) != 1 || st.LapsedKeys[0].Journalist != "lapsed" {
		t.Errorf("status lapsed_keys = %+v", st.LapsedKeys)
	}
	if !strings.Contains(st.events(), "intake: submission failed (1)") {
		t.Errorf("status does not count the failed submission: %s", st.events())
	}
	// A server seized while it runs shows no time of day either (the control
	// socket is made at start, by the admin; it goes at stop).
	live, err := privscan.FileTimes(in.dir, []string{"relay.sock"})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range live {
		t.Errorf("while running: %s", h)
	}
	quiet := len(logs.Bytes())
	p.stop(t)
	if final := logs.Bytes()[quiet:]; !bytes.Contains(final, []byte(`event="intake: submission failed" count=1`)) {
		t.Errorf("the shutdown report does not count the failed submission:\n%s", final)
	}
	privscan.Check(t, in.dir, logs.Bytes(), privscan.Options{
		Markers: []string{codename, "a first message", "notes.txt", "reply text"}, AllowAddrs: ownAddrs(t, in, p)})
	if t.Failed() {
		t.Logf("relay stderr:\n%s", logs.Bytes())
	}
}

// noDateHeader asks the real relay for every kind of answer the form gives
// (redirects not followed) and refuses any with a Date header: the server's
// clock to the second is a clock-skew fingerprint of the onion's host. The
// busy 503 is checked by floodNew; the bare 503 of the connection cap is a
// constant in relay/wire without Date.
func noDateHeader(t *testing.T, p *relayProc) {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	seen := map[int]bool{}
	for _, r := range []struct{ method, path, fetchSite string }{
		{"GET", "/", ""}, {"HEAD", "/", ""}, {"GET", "/static/style.css", ""}, {"GET", "/metadata", ""},
		{"GET", "/no/such/page", ""}, {"PUT", "/", ""}, {"POST", "/new", "cross-site"},
		{"GET", "/inbox", ""}, {"GET", "/new", ""}, {"POST", "/submit", "same-origin"}, {"GET", "/logout", ""},
	} {
		req, _ := http.NewRequest(r.method, p.intakeURL()+r.path, strings.NewReader("csrf=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if r.fetchSite != "" {
			req.Header.Set("Sec-Fetch-Site", r.fetchSite)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", r.method, r.path, err)
		}
		resp.Body.Close()
		seen[resp.StatusCode] = true
		if d, ok := resp.Header["Date"]; ok {
			t.Errorf("%s %s: %d with Date %q", r.method, r.path, resp.StatusCode, d)
		}
	}
	// A request net/http itself refuses (a header line without a colon).
	conn, err := net.Dial("tcp", p.info.IntakeAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\nnot a header\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	seen[resp.StatusCode] = true
	if d, ok := resp.Header["Date"]; ok {
		t.Errorf("net/http's %d has Date %q", resp.StatusCode, d)
	}
	for _, code := range []int{200, 400, 403, 404, 405} {
		if !seen[code] {
			t.Errorf("no %d answer was checked (saw %v)", code, seen)
		}
	}
	if !seen[303] && !seen[302] {
		t.Errorf("no redirect was checked (saw %v)", seen)
	}
}

// statusJSON is what the tests read of `relay status --json`.
type statusJSON struct {
	Replies    int `json:"replies"`
	LapsedKeys []struct {
		Journalist string `json:"journalist"`
	} `json:"lapsed_keys"`
	Events []struct {
		Kind      string `json:"kind"`
		Count     int    `json:"count"`
		LastError string `json:"last_error"`
	} `json:"events"`
}

// relayStatus asks the running relay (through its control socket).
func relayStatus(t *testing.T, in *instance) statusJSON {
	t.Helper()
	var st statusJSON
	if out := run(t, nil, "status", "--data", in.dir, "--json"); json.Unmarshal(out, &st) != nil {
		t.Fatalf("relay status --json: %s", out)
	}
	return st
}

// events lists the counted events, one "kind (count): last error" a line.
func (s statusJSON) events() string {
	var b strings.Builder
	for _, e := range s.Events {
		fmt.Fprintf(&b, "%s (%d): %s\n", e.Kind, e.Count, e.LastError)
	}
	return b.String()
}

// plantLapsedJournalist adds a journalist whose key expired a day ago, the
// state a journalist's key reaches by itself; `relay journalist add` would
// refuse the key, so it goes into the store directly while no relay runs.
func plantLapsedJournalist(t *testing.T, in *instance, name string) {
	t.Helper()
	now := time.Now()
	k := genKey(t, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, KeyLifetimeSecs: 24 * 3600,
		Time: func() time.Time { return now.Add(-48 * time.Hour) }})
	if _, _, err := pgp.ParsePublicKey(pgp.Serialize(k)); err == nil {
		t.Fatal("the planted key is still valid")
	}
	st, err := store.Open(in.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.AddJournalist(store.Journalist{Name: name, PublicKey: pgp.Serialize(k),
		Fingerprint: strings.ToUpper(k.PrimaryKey.KeyIdString()), KeyExpires: now.Add(-24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits until the log's complete lines satisfy done and returns
// them.
func waitLog(t *testing.T, logs *syncBuf, done func([]byte) bool) []byte {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		b := logs.Bytes()
		b = b[:bytes.LastIndexByte(b, '\n')+1]
		if done(b) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("the start-up lines never came:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// floodNew sends rounds of simultaneous "I am new" (each newcomer with its
// own page and token, as browsers do) until at least one gets the busy page,
// and returns how many did.
func floodNew(t *testing.T, p *relayProc, c context.Context) int {
	t.Helper()
	const perRound, rounds = 16, 20
	busy := 0
	for range rounds {
		var (
			mu sync.Mutex
			wg sync.WaitGroup
		)
		for range perRound {
			wg.Go(func() {
				cl := sourceclient.New(p.intakeURL(), nil)
				tok, err := cl.Token(c, "/")
				if err != nil {
					return
				}
				pg, err := cl.Post(c, "/new", url.Values{"csrf": {tok}})
				if err == nil && pg.Header["Date"] != nil {
					t.Errorf("%d answer to /new has a Date header", pg.Status)
				}
				if err == nil && pg.Status == http.StatusServiceUnavailable {
					mu.Lock()
					busy++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if busy > 0 {
			return busy
		}
	}
	return busy
}
