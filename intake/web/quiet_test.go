package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"postern/mailbox/tally"
)

// TestNoDateHeader: no response of the form carries the server's clock. Every
// kind of answer is fetched over a real HTTP client (redirects not followed,
// so the 303 itself is seen): pages, the style sheet, /metadata, HEAD, 404,
// 405, the cross-origin 403, the submission's 303, the busy 503 and 413.
// checkResponse, which every test's browser runs on every response, refuses a
// Date header; this test makes sure each kind of answer passes through it.
func TestNoDateHeader(t *testing.T) {
	full := false
	e := newEnv(t, func(o *Options) {
		o.MaxSubmissionBytes = 1 << 20
		o.FreeBytes = func(string) (uint64, error) {
			if full {
				return 0, nil
			}
			return 1 << 40, nil
		}
	})
	b, tok := e.loggedIn()
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	seen := map[int]bool{}
	note := func(p page) {
		t.Helper()
		seen[p.status] = true
		if _, ok := p.header["Date"]; ok {
			t.Errorf("%d %s: Date header %q", p.status, p.url, p.header.Get("Date"))
		}
	}
	for _, path := range []string{"/", "/static/style.css", "/metadata", "/inbox", "/no/such/page"} {
		note(b.get(path))
	}
	// HEAD has no body for checkResponse to read: checked here.
	resp, err := http.Head(e.ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, ok := resp.Header["Date"]; ok || resp.StatusCode != 200 {
		t.Errorf("HEAD /: %d, Date %q", resp.StatusCode, resp.Header.Get("Date"))
	}
	put, _ := http.NewRequest(http.MethodPut, e.ts.URL+"/", nil)
	note(b.do(put))
	cross, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/new", strings.NewReader(url.Values{"csrf": {"x"}}.Encode()))
	cross.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	cross.Header.Set("Sec-Fetch-Site", "cross-site")
	note(b.do(cross))
	note(b.postMultipart("/submit", field("csrf", tok), field("message", "hello")))
	note(b.postMultipart("/submit", field("csrf", b.token("/submit")), field("message", "big"),
		filePart("big.bin", strings.NewReader(strings.Repeat("x", 2<<20)))))
	full = true
	note(b.postMultipart("/submit", field("csrf", b.token("/submit")), field("message", "no room")))
	for _, code := range []int{200, 303, 403, 404, 405, 413, 503} {
		if !seen[code] {
			t.Errorf("no %d answer was checked (saw %v)", code, seen)
		}
	}
}

// TestFullDiskCountedNotDated: while the disk is nearly full every source's
// submission is refused with the busy page; the relay learns it from a count
// (with no time) instead of a log line per refused source. The form has no
// logger at all, so the count is the only trace.
func TestFullDiskCountedNotDated(t *testing.T) {
	counts := tally.New()
	e := newEnv(t, func(o *Options) {
		o.Tally = counts
		o.FreeBytes = func(string) (uint64, error) { return 0, nil }
	})
	const sources = 3
	for range sources {
		b, tok := e.loggedIn()
		want(t, b.postMultipart("/submit", field("csrf", tok), field("message", "a message")), 503, "")
	}
	got := counts.Total()
	if len(got) != 1 || got[0].Count != sources || !strings.Contains(got[0].Kind, "disk is nearly full") {
		t.Fatalf("counted %+v, want %d refusals for a full disk", got, sources)
	}
	e.nothingStored()
}
