package web

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// One page of the form feeds one derivation: "I am new" and "log in" spend
// their form token, and a replay (sequential or concurrent) gets the
// generic "this form has expired" page without costing an argon2id
// derivation or a session.
func TestFormTokenSingleUse(t *testing.T) {
	e := newEnv(t, nil)
	tok := csrfOf(t, e.browser().get("/"))
	want(t, e.browser().post("/new", url.Values{"csrf": {tok}}), 200, "codename")
	want(t, e.browser().post("/new", url.Values{"csrf": {tok}}), 403, "This form has expired")
	if n := e.srv.sessions.Len(); n != 1 {
		t.Fatalf("%d sessions after a replayed token, want 1", n)
	}

	// A burst of replays of one fresh token: exactly one is acted on.
	tok = csrfOf(t, e.browser().get("/"))
	const n = 20
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { statuses[i] = e.browser().post("/new", url.Values{"csrf": {tok}}).status })
	}
	wg.Wait()
	acted := 0
	for _, st := range statuses {
		switch st {
		case http.StatusOK, http.StatusServiceUnavailable:
			acted++
		case http.StatusForbidden:
		default:
			t.Fatalf("replay burst: status %d", st)
		}
	}
	if acted != 1 {
		t.Fatalf("one token was acted on %d times: %v", acted, statuses)
	}

	// Log in: a wrong codename costs a derivation once; the replay is refused.
	wrong := "abacus abdomen abdominal abide abiding ability ablaze"
	tok = csrfOf(t, e.browser().get("/login"))
	want(t, e.browser().post("/login", url.Values{"csrf": {tok}, "codename": {wrong}}), 403, "not recognised")
	want(t, e.browser().post("/login", url.Values{"csrf": {tok}, "codename": {wrong}}), 403, "This form has expired")
	// A malformed codename costs nothing and leaves the token usable.
	tok = csrfOf(t, e.browser().get("/login"))
	want(t, e.browser().post("/login", url.Values{"csrf": {tok}, "codename": {"not a codename"}}), 400, "seven words")
	want(t, e.browser().post("/login", url.Values{"csrf": {tok}, "codename": {wrong}}), 403, "not recognised")
}

// A returning source logs in while a flood of "I am new" keeps the session
// table full: fresh sessions may not take the room kept for logins, and a
// login pushes out the fresh session unused longest.
func TestReturningSourceLogsInDuringNewFlood(t *testing.T) {
	const maxSessions = 20
	e := newEnv(t, func(o *Options) { o.MaxSessions = maxSessions })
	src := e.browser()
	cn := src.newCodename()
	tok := src.token("/submit")
	want(t, src.postMultipart("/submit", field("csrf", tok), field("message", "first contact")), 200, "received")
	want(t, src.post("/logout", url.Values{"csrf": {tok}}), 200, "")

	stop := make(chan struct{})
	var full atomic.Int32 // flood answers that met a full table
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() { floodNew(e.ts.URL, stop, &full) })
	}
	defer func() { close(stop); wg.Wait() }()
	deadline := time.Now().Add(time.Minute)
	for e.srv.sessions.Len() < maxSessions*4/5 || full.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the flood never filled the table: %d sessions, %d refusals", e.srv.sessions.Len(), full.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 3 {
		b := e.browser()
		if p := b.login(cn); !strings.Contains(p.url, "/inbox") {
			t.Fatalf("login %d during the flood: %d %s\n%s", i, p.status, p.url, p.body)
		}
		want(t, b.get("/inbox"), 200, "Replies")
	}
}

// floodNew presses "I am new" with a fresh form token each time until stop,
// counting the answers that were "busy" while the table was full.
func floodNew(base string, stop <-chan struct{}, busy *atomic.Int32) {
	c := &http.Client{Timeout: time.Minute}
	for {
		select {
		case <-stop:
			return
		default:
		}
		resp, err := c.Get(base + "/")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := csrfRE.FindSubmatch(body)
		if m == nil {
			continue
		}
		resp, err = c.PostForm(base+"/new", url.Values{"csrf": {string(m[1])}})
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			busy.Add(1)
		}
	}
}

// One session trickling uploads cannot keep other sources out: it gets at
// most MaxUploadsPerSession slots, a second source's submission is
// acknowledged meanwhile, and each trickling upload is dropped once its
// average rate stays below the floor after the grace period, with a page
// that says so and nothing of it stored.
func TestSlowUploadsCannotHoldEverySlot(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.MaxUploads = 3
		o.UploadGrace = 2 * time.Second // 1 KiB/s floor, the default
	})
	slow, tok := e.loggedIn()
	var trickles []<-chan page
	for i := range 2 {
		trickles = append(trickles, e.trickle(slow, tok))
		for len(e.srv.uploads) != i+1 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	// The same session's next upload is refused at once: two are in flight.
	select {
	case p := <-e.trickle(slow, tok):
		want(t, p, http.StatusServiceUnavailable, "still being received")
	case <-time.After(time.Minute):
		t.Fatal("a third upload of one session was not refused")
	}

	other, otherTok := e.loggedIn()
	msg := strings.Repeat("a realistic message of some length. ", 20<<10/36)
	want(t, other.postMultipart("/submit", field("csrf", otherTok), field("message", msg)), 200, "received")

	for i, ch := range trickles {
		select {
		case p := <-ch:
			want(t, p, http.StatusRequestTimeout, "arrived too slowly (less than 1 KiB per second)")
		case <-time.After(time.Minute):
			t.Fatalf("trickling upload %d was never dropped", i)
		}
	}
	for len(e.srv.uploads) != 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if st := e.stats(); st.Messages != 1 || st.Sources != 1 {
		t.Fatalf("stored %+v; want only the second source's submission", st)
	}
	e.check()
}

// trickle starts a submission from b's session on a raw connection: the
// form fields at once, then a file one byte every 50 ms, until the server
// answers (the page is sent on the channel) or the test ends.
func (e *env) trickle(b *browser, tok string) <-chan page {
	e.t.Helper()
	u, _ := url.Parse(e.ts.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	var cookie string
	for _, c := range b.c.Jar.Cookies(u) {
		cookie = c.Name + "=" + c.Value
	}
	const boundary = "trickletrickle"
	prologue := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + tok + "\r\n" +
		"--" + boundary + "\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nslowly\r\n" +
		"--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.bin\"\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n"
	fmt.Fprintf(conn, "POST /submit HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nCookie: %s\r\n"+
		"Content-Type: multipart/form-data; boundary=%s\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n",
		u.Host, torUA, cookie, boundary, len(prologue), prologue)
	answered := make(chan struct{})
	go func() {
		for {
			select {
			case <-answered:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := io.WriteString(conn, "1\r\nx\r\n"); err != nil {
				return
			}
		}
	}()
	out := make(chan page, 1)
	go func() {
		defer close(answered)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			out <- page{status: -1, body: err.Error()}
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out <- page{status: resp.StatusCode, header: resp.Header, body: isolates.Replace(string(body)), raw: string(body)}
	}()
	return out
}
