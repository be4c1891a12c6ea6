package web

import (
	"io"
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
