package web

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzMultipart throws arbitrary bodies at the upload handler of a live
// session: after a valid token part (withToken) or raw. Whatever comes in,
// the answer is one of the expected pages, never a 500 or a panic, and the
// store stays consistent.
func FuzzMultipart(f *testing.F) {
	fe := fuzzEnv(f)
	f.Add(true, "B", []byte("--B\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nhello\r\n--B--\r\n"))
	f.Add(true, "B", []byte("--B\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\ns\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../a\"\r\n\r\nabc\r\n--B--\r\n"))
	f.Add(true, "B", []byte("--B\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''%00%0a\r\n\r\nabc\r\n--B--"))
	f.Add(true, "B", []byte("--B\r\nContent-Disposition: form-data; na"))
	f.Add(false, "B", []byte("--B--\r\n"))
	f.Add(false, "", []byte("garbage"))
	f.Add(true, "B", []byte("--B\nContent-Disposition: form-data; name=\"message\"\n\nlf only\n--B--\n"))
	f.Fuzz(func(t *testing.T, withToken bool, boundary string, body []byte) {
		var full bytes.Buffer
		if withToken && boundary != "" {
			fmt.Fprintf(&full, "--%s\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n%s\r\n", boundary, fe.tok)
		}
		full.Write(body)
		req := httptest.NewRequest(http.MethodPost, "/submit", &full)
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
		req.AddCookie(&http.Cookie{Name: cookieName, Value: fe.cookie})
		rec := httptest.NewRecorder()
		fe.srv.Handler().ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusSeeOther, http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d\n%s", rec.Code, rec.Body.String())
		}
		if rec.Code == http.StatusSeeOther && !withToken {
			t.Fatal("accepted without the token part")
		}
		if err := fe.st.Check(); err != nil {
			t.Fatal(err)
		}
	})
}

// fuzzState is one environment shared by every input of a fuzz worker:
// starting a store and deriving a codename per input would make it crawl.
type fuzzState struct {
	*env
	tok, cookie string
}

func fuzzEnv(t testing.TB) *fuzzState {
	e := newEnv(t, func(o *Options) { o.MaxSubmissionBytes = 1 << 20; o.MaxMessageChars = 1000 })
	b, tok := e.loggedIn()
	var cookie string
	for _, c := range b.c.Jar.Cookies(mustURL(e.ts.URL)) {
		cookie = c.Value
	}
	return &fuzzState{env: e, tok: tok, cookie: cookie}
}

// FuzzLanguage checks that no Accept-Language or ?l= value breaks the
// language choice.
func FuzzLanguage(f *testing.F) {
	in, err := newI18n(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5", "fr")
	f.Add("", "")
	f.Add(strings.Repeat("x-", 200), "xx")
	f.Add("en;q=1e9999", "\x00")
	f.Fuzz(func(t *testing.T, al, l string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.RawQuery = "l=" + l
		req.Header.Set("Accept-Language", al)
		idx, explicit := in.pick(req)
		if idx < 0 || idx >= len(in.langs) {
			t.Fatalf("index %d", idx)
		}
		if explicit && in.codes[idx] != req.URL.Query().Get("l") {
			t.Fatal("explicit choice of an unknown language")
		}
		_ = in.printer(idx).Sprintf("landing.title", "x")
		_ = in.printer(idx).Sprintf("error.toomany.text", 3)
	})
}
