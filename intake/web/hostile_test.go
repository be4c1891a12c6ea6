package web

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"postern/mailbox/kdf"
)

// loggedIn returns a browser with a fresh codename session and its token.
func (e *env) loggedIn() (*browser, string) {
	b := e.browser()
	b.newCodename()
	return b, b.token("/submit")
}

// nothingStored asserts that no submission and no source record exist, and
// that the store is consistent.
func (e *env) nothingStored() {
	e.t.Helper()
	st := e.stats()
	if st.Messages != 0 || st.Sources != 0 || st.Blobs != 0 {
		e.t.Fatalf("something was stored: %+v", st)
	}
	e.check()
}

func want(t testing.TB, p page, status int, text string) {
	t.Helper()
	if p.status != status || !strings.Contains(p.body, text) {
		t.Fatalf("got %d, want %d with %q:\n%s", p.status, status, text, p.body)
	}
}

func TestHostileSubmissions(t *testing.T) {
	e := newEnv(t, nil)
	b, tok := e.loggedIn()
	const boundary = "xYzZY"
	ctype := "multipart/form-data; boundary=" + boundary
	mp := func(parts ...string) []byte {
		var buf bytes.Buffer
		for _, p := range parts {
			fmt.Fprintf(&buf, "--%s\r\n%s", boundary, p)
		}
		fmt.Fprintf(&buf, "--%s--\r\n", boundary)
		return buf.Bytes()
	}
	csrfPart := "Content-Disposition: form-data; name=\"csrf\"\r\n\r\n" + tok + "\r\n"

	cases := []struct {
		name   string
		ctype  string
		body   []byte
		status int
		text   string
	}{
		{"garbage", ctype, []byte("this is not multipart at all"), 400, "could not be understood"},
		{"missing boundary", "multipart/form-data", mp(csrfPart), 400, "could not be understood"},
		{"urlencoded", "application/x-www-form-urlencoded", []byte("csrf=" + tok + "&message=hi"), 400, "could not be understood"},
		{"no content type", "", mp(csrfPart), 400, "could not be understood"},
		{"truncated", ctype, mp(csrfPart, "Content-Disposition: form-data; name=\"message\"\r\n\r\nhello")[:len(csrfPart)+60], 400, "could not be understood"},
		{"no closing boundary", ctype, []byte("--" + boundary + "\r\n" + csrfPart + "--" + boundary + "\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nhello"), 400, "could not be understood"},
		{"bad disposition", ctype, mp(csrfPart, "Content-Disposition: attachment\r\n\r\nx\r\n"), 400, "could not be understood"},
		{"unknown field", ctype, mp(csrfPart, "Content-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n"), 400, "could not be understood"},
		{"message twice", ctype, mp(csrfPart, "Content-Disposition: form-data; name=\"message\"\r\n\r\na\r\n", "Content-Disposition: form-data; name=\"message\"\r\n\r\nb\r\n"), 400, "could not be understood"},
		{"message after file", ctype, mp(csrfPart, "Content-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\na\r\n", "Content-Disposition: form-data; name=\"message\"\r\n\r\nb\r\n"), 400, "could not be understood"},
		{"invalid utf-8 message", ctype, mp(csrfPart, "Content-Disposition: form-data; name=\"message\"\r\n\r\nbad \xff\xfe text\r\n"), 400, "could not be read"},
		{"nul in message", ctype, mp(csrfPart, "Content-Disposition: form-data; name=\"message\"\r\n\r\nbad \x00 text\r\n"), 400, "could not be read"},
		{"invalid utf-8 subject", ctype, mp(csrfPart, "Content-Disposition: form-data; name=\"subject\"\r\n\r\n\xc3\x28\r\n", "Content-Disposition: form-data; name=\"message\"\r\n\r\nhi\r\n"), 400, "could not be read"},
		{"subject CRLF injection", ctype, mp(csrfPart, "Content-Disposition: form-data; name=\"subject\"\r\n\r\nhello\r\nBcc: evil@example.com\r\n", "Content-Disposition: form-data; name=\"message\"\r\n\r\nhi\r\n"), 400, "single line"},
		{"subject LF injection", ctype, mp(csrfPart, "Content-Disposition: form-data; name=\"subject\"\r\n\r\nhello\nX-Evil: 1\r\n", "Content-Disposition: form-data; name=\"message\"\r\n\r\nhi\r\n"), 400, "single line"},
		{"subject too long", ctype, mp(csrfPart, "Content-Disposition: form-data; name=\"subject\"\r\n\r\n"+strings.Repeat("é", MaxSubjectChars+1)+"\r\n", "Content-Disposition: form-data; name=\"message\"\r\n\r\nhi\r\n"), 400, "single line"},
		{"empty", ctype, mp(csrfPart, "Content-Disposition: form-data; name=\"message\"\r\n\r\n  \r\n\r\n", "Content-Disposition: form-data; name=\"file\"; filename=\"\"\r\n\r\n\r\n"), 400, "nothing to send"},
		{"no csrf", ctype, mp("Content-Disposition: form-data; name=\"message\"\r\n\r\nhi\r\n"), 403, "did not come from this site"},
		{"file before csrf", ctype, mp("Content-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nabc\r\n", csrfPart), 403, "did not come from this site"},
		{"wrong csrf", ctype, mp("Content-Disposition: form-data; name=\"csrf\"\r\n\r\n"+strings.Repeat("A", 43)+"\r\n", "Content-Disposition: form-data; name=\"message\"\r\n\r\nhi\r\n"), 403, "did not come from this site"},
		{"huge csrf", ctype, mp("Content-Disposition: form-data; name=\"csrf\"\r\n\r\n" + strings.Repeat("A", 4096) + "\r\n"), 413, "Too large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := b.postRaw("/submit", c.ctype, c.body)
			want(t, p, c.status, c.text)
			e.nothingStored()
		})
	}
	// The session survived all of it and still works.
	p := b.postMultipart("/submit", field("csrf", tok), field("message", "still here"))
	if !strings.Contains(p.url, "/submitted") {
		t.Fatalf("after hostile input: %d\n%s", p.status, p.body)
	}
	e.check()
}

func TestHostileFilenames(t *testing.T) {
	e := newEnv(t, nil)
	b, tok := e.loggedIn()
	names := []string{"../../../../etc/passwd", "..\\..\\windows\\win.ini", "a\x00b.txt", "line\r\nContent-Type: text/html", "\x1b[31mred", "/abs/path", strings.Repeat("long", 300), "résumé.pdf", "\xff\xfe.bin"}
	var parts []part
	parts = append(parts, field("csrf", tok))
	for i, n := range names {
		parts = append(parts, part{name: "file", filename: n, file: true, data: strings.NewReader(fmt.Sprintf("content %d", i))})
	}
	// The test's multipart writer quotes names with %q, which is not what a
	// browser does for control characters; send them raw too.
	p := b.postMultipart("/submit", parts...)
	want(t, p, 200, "received and encrypted")
	ds := e.delivered()
	if len(ds) != 1 || len(ds[0].Parts) != len(names)+1 {
		t.Fatalf("delivered %+v", ds)
	}
	for i, p := range ds[0].Parts[:len(names)] {
		if strings.ContainsAny(p.Name, "/\\\x00\r\n\x1b") || strings.HasPrefix(p.Name, ".") || p.Name == "" {
			t.Errorf("file name %q not sanitised", p.Name)
		}
		if got := string(partBytes(t, ds[0], i)); got != fmt.Sprintf("content %d", i) {
			t.Errorf("file %d content %q", i, got)
		}
	}
	e.check()

	// RFC 2231 encoding carries raw control characters and slashes through
	// the header; they reach the writer decoded and must come out clean.
	body := "--B\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + tok + "\r\n" +
		"--B\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd%0D%0ABcc%3A%20x%00.txt\r\n\r\nraw\r\n--B--\r\n"
	p = b.postRaw("/submit", "multipart/form-data; boundary=B", []byte(body))
	want(t, p, 200, "received and encrypted")
	ds = e.delivered()
	if n := ds[1].Parts[0].Name; strings.ContainsAny(n, "/\\\x00\r\n") || strings.HasPrefix(n, ".") {
		t.Errorf("encoded file name %q not sanitised", n)
	}
	// A raw CR inside the quoted name is a malformed header: refused cleanly.
	body = "--B\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + tok + "\r\n" +
		"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\x01b\"\r\n\r\nraw\r\n--B--\r\n"
	want(t, b.postRaw("/submit", "multipart/form-data; boundary=B", []byte(body)), 400, "could not be understood")
	e.check()
	if n := len(e.delivered()); n != 2 {
		t.Fatalf("%d messages", n)
	}
	// Nothing outside the data dir, and no file named after an upload.
	grepDir(t, e.dir, "passwd", "win.ini", "résumé")
}

func TestTooLarge(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxSubmissionBytes = 64 << 10; o.MaxMessageChars = 1000 })
	b, tok := e.loggedIn()
	big := bytes.Repeat([]byte("x"), 200<<10)

	// Streamed (chunked, no Content-Length): refused while reading.
	p := b.postMultipart("/submit", field("csrf", tok), field("message", "hi"), filePart("big.bin", bytes.NewReader(big)))
	want(t, p, http.StatusRequestEntityTooLarge, "larger than 64 KiB")
	e.nothingStored()

	// Just over the content limit, though within the body limit.
	p = b.postMultipart("/submit", field("csrf", tok), filePart("a.bin", bytes.NewReader(big[:64<<10+1])))
	want(t, p, http.StatusRequestEntityTooLarge, "Too large")
	e.nothingStored()

	// Several files that add up to too much.
	p = b.postMultipart("/submit", field("csrf", tok), filePart("a", bytes.NewReader(big[:40<<10])), filePart("b", bytes.NewReader(big[:40<<10])))
	want(t, p, http.StatusRequestEntityTooLarge, "Too large")
	e.nothingStored()

	// Declared too large: refused before reading.
	var buf bytes.Buffer
	buf.WriteString("--B\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n" + tok + "\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\n")
	buf.Write(big)
	buf.WriteString("\r\n--B--\r\n")
	p = b.postRaw("/submit", "multipart/form-data; boundary=B", buf.Bytes())
	want(t, p, http.StatusRequestEntityTooLarge, "Too large")
	e.nothingStored()

	// A message over the character limit.
	p = b.postMultipart("/submit", field("csrf", tok), field("message", strings.Repeat("ü", 1001)))
	want(t, p, 400, "longer than 1,000 characters")
	e.nothingStored()
	// Exactly at the limit, with CRLF counted once.
	p = b.postMultipart("/submit", field("csrf", tok), field("message", strings.Repeat("ü", 998)+"\r\n!"))
	want(t, p, 200, "received")

	// Exactly at the byte limit is fine.
	p = b.postMultipart("/submit", field("csrf", tok), filePart("a.bin", bytes.NewReader(big[:64<<10])))
	want(t, p, 200, "received")
	e.check()
}

func TestUploadsOffAndTooMany(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowUploads = false })
	b, tok := e.loggedIn()
	if p := b.get("/submit"); strings.Contains(p.body, `type="file"`) {
		t.Fatal("file input shown with uploads off")
	}
	p := b.postMultipart("/submit", field("csrf", tok), field("message", "hi"), filePart("a.txt", strings.NewReader("a")))
	want(t, p, 400, "does not accept files")
	e.nothingStored()
	if p := b.get("/metadata"); !strings.Contains(p.body, `"allow_uploads": false`) {
		t.Fatal("metadata says uploads allowed")
	}

	e2 := newEnv(t, nil)
	b2, tok2 := e2.loggedIn()
	parts := []part{field("csrf", tok2)}
	for i := 0; i <= MaxFiles; i++ {
		parts = append(parts, filePart(fmt.Sprint(i), strings.NewReader("x")))
	}
	want(t, b2.postMultipart("/submit", parts...), 400, "up to 100 files")
	e2.nothingStored()
}

func TestDeliveryFailure(t *testing.T) {
	e := newEnv(t, nil)
	b, tok := e.loggedIn()
	// No journalist: the delivery cannot start.
	if err := e.st.RemoveJournalist("alice"); err != nil {
		t.Fatal(err)
	}
	p := b.postMultipart("/submit", field("csrf", tok), field("message", "hi"), filePart("a", strings.NewReader("abc")))
	want(t, p, 500, "Something went wrong")
	// The source record made for this first submission is gone again.
	e.nothingStored()
}

func TestCodenames(t *testing.T) {
	e := newEnv(t, nil)
	b, tok := e.loggedIn()
	p := b.postMultipart("/submit", field("csrf", tok), field("message", "first"))
	want(t, p, 200, "received")

	other := e.browser()
	seven := "abacus abdomen abdominal abide abiding ability ablaze" // valid words, unknown codename
	for _, c := range []struct {
		input  string
		status int
		text   string
	}{
		{seven, 403, "was not recognised"},
		{"abacus abdomen abdominal abide abiding ability", 400, "seven words, but you typed 6 words"},
		{"abacus abdomen abdominal abide abiding ability notaword", 400, "The seventh word is not one of ours"},
		{"abacus abdomen abdominl abide abiding ability ablaze", 400, "The third word is not one of ours"},
		{"", 400, "seven words from our list"},
		{strings.Repeat("abacus ", 100), 400, "seven words from our list"},
		{"abacus\x00abdomen", 400, "The first word is not one of ours"},
		{"\xff\xfe", 400, "seven words from our list"},
	} {
		p := other.login(c.input)
		want(t, p, c.status, c.text)
		if len(other.c.Jar.Cookies(mustURL(e.ts.URL))) != 0 {
			t.Fatalf("failed login %q set a cookie", c.input)
		}
	}
	// In French, the word pointed out is named in French.
	fr := e.browser()
	p = fr.post("/login?l=fr", url.Values{"csrf": {fr.token("/login?l=fr")}, "codename": {"abacus abdomen abdominl abide abiding ability ablaze"}})
	want(t, p, 400, "Le troisième mot ne fait pas partie de notre liste")

	// A codename copied back from paper however it was written logs in.
	src := e.browser()
	cn := src.newCodename()
	want(t, src.postMultipart("/submit", field("csrf", src.token("/submit")), field("message", "first")), 200, "received")
	words := strings.Fields(cn)
	for _, typed := range []string{
		strings.ToUpper(strings.Join(words, ". ")),
		strings.Join(words, "\n") + "\n",
		"  " + strings.Join(words, " - ") + "  ",
	} {
		again := e.browser()
		want(t, again.login(typed), 200, "Replies")
	}
	e.check()
}

func TestForgedAndExpiredSessions(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, func(o *Options) { o.Now = clock; o.SessionIdle = 30 * time.Minute })
	forged := e.browser()
	forged.c.Jar.SetCookies(mustURL(e.ts.URL), []*http.Cookie{{Name: cookieName, Value: strings.Repeat("A", 43), Path: "/"}})
	want(t, forged.get("/submit"), 403, "Session ended")
	want(t, forged.get("/inbox"), 403, "Session ended")
	p := forged.postMultipart("/submit", field("csrf", strings.Repeat("A", 43)), field("message", "x"))
	want(t, p, 403, "Session ended")
	e.nothingStored()

	b, tok := e.loggedIn()
	want(t, b.get("/submit"), 200, "Send a message")
	mu.Lock()
	now = now.Add(31 * time.Minute)
	mu.Unlock()
	p = b.postMultipart("/submit", field("csrf", tok), field("message", "late"))
	want(t, p, 403, "Session ended")
	e.nothingStored()
	if e.srv.sessions.Len() != 0 {
		t.Fatal("expired session still held")
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, nil)
	b, tok := e.loggedIn()
	want(t, b.postMultipart("/submit", field("csrf", tok), field("message", "hi")), 200, "received")
	bad := strings.Repeat("B", 43)
	for _, path := range []string{"/logout", "/inbox/delete", "/inbox/delete-all", "/account/delete", "/practice", "/new", "/login"} {
		want(t, b.post(path, url.Values{"csrf": {bad}, "id": {"x"}, "codename": {"a b c d e f g"}}), 403, "did not come from this site")
		want(t, b.post(path, url.Values{"id": {"x"}}), 403, "did not come from this site")
	}
	// A cross-site POST is refused even with the right token.
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/account/delete", strings.NewReader(url.Values{"csrf": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	want(t, b.do(req), 403, "did not come from this site")
	req, _ = http.NewRequest(http.MethodPost, e.ts.URL+"/login", strings.NewReader("codename=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	want(t, b.do(req), 403, "did not come from this site")
	for _, h := range [][2]string{{"Sec-Fetch-Site", "same-site"}, {"Origin", "http://" + strings.TrimPrefix(e.ts.URL, "http://") + ".evil"}} {
		req, _ = http.NewRequest(http.MethodPost, e.ts.URL+"/logout", strings.NewReader(url.Values{"csrf": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(h[0], h[1])
		want(t, b.do(req), 403, "did not come from this site")
	}
	// What our own pages make a browser send is accepted: Sec-Fetch-Site
	// same-origin, or (without Sec-Fetch-*) "Origin: null" under our
	// no-referrer policy, or the same origin.
	for _, h := range [][2]string{{"Sec-Fetch-Site", "same-origin"}, {"Origin", "null"}, {"Origin", e.ts.URL}} {
		req, _ = http.NewRequest(http.MethodPost, e.ts.URL+"/practice", strings.NewReader(url.Values{"csrf": {tok}, "codename": {"x"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(h[0], h[1])
		want(t, b.do(req), 200, "does not match")
	}
	// Still logged in, account intact.
	if st := e.stats(); st.Sources != 1 || st.Messages != 1 {
		t.Fatalf("stats %+v", st)
	}
	want(t, b.get("/inbox"), 200, "Replies")
	// A form token from another server instance is refused.
	e2 := newEnv(t, nil)
	foreign := csrfOf(t, e2.browser().get("/login"))
	want(t, e.browser().post("/login", url.Values{"csrf": {foreign}, "codename": {"x"}}), 403, "did not come from this site")
}

func TestErrorPages(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	want(t, b.get("/nope"), 404, "Page not found")
	want(t, b.get("/static/"), 404, "Page not found")
	want(t, b.get("/inbox/file/x/0"), 403, "Session ended")
	req, _ := http.NewRequest(http.MethodPut, e.ts.URL+"/login", nil)
	p := b.do(req)
	want(t, p, 405, "not possible")
	if p.header.Get("Allow") != "GET, POST" {
		t.Fatalf("Allow %q", p.header.Get("Allow"))
	}
	want(t, b.get("/logout"), 405, "not possible")
	css := b.get("/static/style.css")
	if css.status != 200 || css.header.Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(css.body, "font-family") {
		t.Fatalf("css: %d %s", css.status, css.header.Get("Content-Type"))
	}
	want(t, b.get("/practice"), 200, "while your session is open")

	// A panicking handler gives the generic page with every header.
	rec := httptest.NewRecorder()
	e.srv.wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("secret input") })).
		ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "Something went wrong") || strings.Contains(rec.Body.String(), "secret input") {
		t.Fatalf("panic: %d\n%s", rec.Code, rec.Body.String())
	}
	if rec.Header().Get("Content-Security-Policy") == "" {
		t.Fatal("panic page without headers")
	}
}

// TestCodenameFlood fires many "get a codename" requests at a pool with one
// worker and a queue of one: the overflow gets the busy page, nobody gets a
// 500, and the sessions made are exactly the successes.
func TestCodenameFlood(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Pool = kdf.NewPool(kdf.PoolOptions{Workers: 1, Queue: 1, Wait: time.Minute})
		o.KDF = kdf.Params{Time: 3, MemoryKiB: 32 * 1024, Threads: 1}
	})
	busy := 0
	for round := 0; round < 5 && busy == 0; round++ {
		const n = 12
		// Form tokens are single-use: a flood that plays by the rules
		// fetches one page per request.
		toks := make([]string, n)
		for i := range toks {
			toks[i] = csrfOf(t, e.browser().get("/"))
		}
		var wg sync.WaitGroup
		pages := make([]page, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pages[i] = e.browser().post("/new", url.Values{"csrf": {toks[i]}})
			}()
		}
		wg.Wait()
		ok := 0
		for _, p := range pages {
			switch p.status {
			case 200:
				ok++
			case 503:
				busy++
				if p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "wait a minute") {
					t.Fatalf("busy page: %v\n%s", p.header, p.body)
				}
			default:
				t.Fatalf("flood: status %d\n%s", p.status, p.body)
			}
		}
		if ok == 0 {
			t.Fatal("nobody got a codename")
		}
	}
	if busy == 0 {
		t.Fatal("five floods of 12 never met a busy pool")
	}
	e.nothingStored()
}
