package web

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
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
