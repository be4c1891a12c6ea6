package e2e_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"postern/tools/sourceclient"
)

type browser struct {
	base string
	jar  *cookiejar.Jar
	hc   *http.Client
}

type page struct {
	status int
	url    string
	body   string
	header http.Header
}

func (p page) String() string {
	b := p.body
	if len(b) > 600 {
		b = b[:600] + "…"
	}
	return fmt.Sprintf("%d %s\n%s", p.status, p.url, b)
}

func newBrowser(base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{base: base, jar: jar, hc: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		Transport: &http.Transport{DisableCompression: true, DisableKeepAlives: true}}}
}

func (b *browser) do(t *testing.T, req *http.Request) page {
	t.Helper()
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", sourceclient.TorBrowserUA)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return page{status: resp.StatusCode, url: resp.Request.URL.String(), body: isolates.Replace(string(body)), header: resp.Header}
}

func (b *browser) req(t *testing.T, method, path, ctype string, body []byte) page {
	t.Helper()
	req, err := http.NewRequest(method, b.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return b.do(t, req)
}

func (b *browser) get(t *testing.T, path string) page {
	t.Helper()
	return b.req(t, http.MethodGet, path, "", nil)
}

func (b *browser) post(t *testing.T, path string, v url.Values) page {
	t.Helper()
	return b.req(t, http.MethodPost, path, "application/x-www-form-urlencoded", []byte(v.Encode()))
}

var hostileCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) token(t *testing.T, path string) string {
	t.Helper()
	p := b.get(t, path)
	m := hostileCSRF.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no form token on %s:\n%s", path, p)
	}
	return m[1]
}

// fresh returns a browser holding a new, not yet used codename session.
func (b *browser) fresh(t *testing.T) *browser {
	t.Helper()
	p := b.post(t, "/new", url.Values{"csrf": {b.token(t, "/")}})
	if p.status != 200 || b.cookie() == "" {
		t.Fatalf("new codename:\n%s", p)
	}
	return b
}

func (b *browser) cookie() string {
	u, _ := url.Parse(b.base)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == "s" {
			return c.Value
		}
	}
	return ""
}

func (b *browser) setCookie(v string) {
	u, _ := url.Parse(b.base)
	b.jar.SetCookies(u, []*http.Cookie{{Name: "s", Value: v, Path: "/"}})
}

// multipart bodies, written by hand so that they can be wrong.
const bnd = "hostileBoundary7"

var mpType = "multipart/form-data; boundary=" + bnd

func mpField(name, value string) string {
	return "Content-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n"
}

func mpFile(filename, content string) string {
	return "Content-Disposition: form-data; name=\"file\"; filename=\"" + filename + "\"\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n" + content + "\r\n"
}

func mp(parts ...string) []byte {
	var buf bytes.Buffer
	for _, p := range parts {
		buf.WriteString("--" + bnd + "\r\n" + p)
	}
	buf.WriteString("--" + bnd + "--\r\n")
	return buf.Bytes()
}

// submit posts a multipart body from a fresh session; body gets the
// session's token.
func (e *hostileNet) submit(t *testing.T, ctype string, body func(tok string) []byte) page {
	t.Helper()
	b := newBrowser(e.p.intakeURL()).fresh(t)
	tok := b.token(t, "/submit")
	return b.req(t, http.MethodPost, "/submit", ctype, body(tok))
}

// raw sends bytes on a new connection and reads one HTTP response.
func (e *hostileNet) raw(t *testing.T, req string) page {
	t.Helper()
	c, err := net.DialTimeout("tcp", e.p.info.IntakeAddr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	go io.WriteString(c, req) // the server may answer before reading everything
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return page{status: -1, body: "no response: " + err.Error()}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return page{status: resp.StatusCode, body: isolates.Replace(string(body)), header: resp.Header}
}

// ---- line protocols over raw TCP ----

func (b *browser) login(t *testing.T, codename string) {
	t.Helper()
	p := b.post(t, "/login", url.Values{"csrf": {b.token(t, "/login")}, "codename": {codename}})
	if !strings.Contains(p.url, "/inbox") {
		t.Fatalf("login:\n%s", p)
	}
}

// ---- the catalogue ----

func httpCases() []httpCase {
	msg := func(text string) func(string) []byte {
		return func(tok string) []byte { return mp(mpField("csrf", tok), mpField("message", text)) }
	}
	sub := func(ctype string, body func(string) []byte) func(*testing.T, *hostileNet) page {
		return func(t *testing.T, e *hostileNet) page { return e.submit(t, ctype, body) }
	}
	get := func(path string) func(*testing.T, *hostileNet) page {
		return func(t *testing.T, e *hostileNet) page { return newBrowser(e.p.intakeURL()).get(t, path) }
	}
	login := func(codename string) func(*testing.T, *hostileNet) page {
		return func(t *testing.T, e *hostileNet) page {
			b := newBrowser(e.p.intakeURL())
			return b.post(t, "/login", url.Values{"csrf": {b.token(t, "/login")}, "codename": {codename}})
		}
	}
	// asB runs f with source B logged in.
	asB := func(f func(t *testing.T, e *hostileNet, b *browser) page) func(*testing.T, *hostileNet) page {
		return func(t *testing.T, e *hostileNet) page {
			b := newBrowser(e.p.intakeURL())
			b.login(t, e.codeB)
			return f(t, e, b)
		}
	}
	words := "abacus abdomen abdominal abide abiding ability ablaze" // seven EFF words
	return []httpCase{
		{name: "multipart garbage body", do: sub(mpType, func(string) []byte { return []byte("this is not multipart at all") }), status: 400, text: txtBad},
		{name: "multipart without boundary parameter", do: sub("multipart/form-data", msg("hi")), status: 400, text: txtBad},
		{name: "urlencoded to the upload", do: sub("application/x-www-form-urlencoded", func(tok string) []byte { return []byte("csrf=" + tok + "&message=hi") }), status: 400, text: txtBad},
		{name: "no content type on the upload", do: sub("", msg("hi")), status: 400, text: txtBad},
		{name: "text/plain to login", do: func(t *testing.T, e *hostileNet) page {
			b := newBrowser(e.p.intakeURL())
			return b.req(t, http.MethodPost, "/login", "text/plain", []byte("csrf="+b.token(t, "/login")+"&codename=x"))
		}, status: 400, text: txtBad},
		{name: "multipart body cut before the final boundary", do: sub(mpType, func(tok string) []byte {
			return []byte("--" + bnd + "\r\n" + mpField("csrf", tok) + "--" + bnd + "\r\n" + mpField("message", "cut off here"))
		}), status: 400, text: txtBad},
		{name: "unknown form field", do: sub(mpType, func(tok string) []byte { return mp(mpField("csrf", tok), mpField("evil", "x")) }), status: 400, text: txtBad},
		{name: "invalid UTF-8 in message", do: sub(mpType, msg("bad \xff\xfe text")), status: 400, text: txtUTF8},
		{name: "NUL in message", do: sub(mpType, msg("bad \x00 text")), status: 400, text: txtUTF8},
		{name: "invalid UTF-8 in subject", do: sub(mpType, func(tok string) []byte {
			return mp(mpField("csrf", tok), mpField("subject", "\xc3\x28"), mpField("message", "hi"))
		}), status: 400, text: txtUTF8},
		{name: "CR LF header injection in subject", do: sub(mpType, func(tok string) []byte {
			return mp(mpField("csrf", tok), mpField("subject", "hello\r\nBcc: evil@example.com"), mpField("message", "hi"))
		}), status: 400, text: txtSubject},
		{name: "subject of 201 characters", do: sub(mpType, func(tok string) []byte {
			return mp(mpField("csrf", tok), mpField("subject", strings.Repeat("é", 201)), mpField("message", "hi"))
		}), status: 400, text: txtSubject},
		{name: "message of 2001 characters", do: sub(mpType, msg(strings.Repeat("ж", 2001))), status: 400, text: txtMessage},
		{name: "empty submission", do: sub(mpType, func(tok string) []byte {
			return mp(mpField("csrf", tok), mpField("message", "  \r\n"), "Content-Disposition: form-data; name=\"file\"; filename=\"\"\r\n\r\n\r\n")
		}), status: 400, text: txtEmpty},
		{name: "101 files", do: sub(mpType, func(tok string) []byte {
			parts := []string{mpField("csrf", tok)}
			for i := range 101 {
				parts = append(parts, mpFile(fmt.Sprintf("f%d.txt", i), "x"))
			}
			return mp(parts...)
		}), status: 400, text: txtTooMany},
		{name: "file over the 1 MiB cap", do: sub(mpType, func(tok string) []byte {
			return mp(mpField("csrf", tok), mpFile("big.bin", strings.Repeat("A", 1<<20+1)))
		}), status: 413, text: txtTooLarge},
		{name: "declared Content-Length of 10 GiB", do: func(t *testing.T, e *hostileNet) page {
			b := newBrowser(e.p.intakeURL()).fresh(t)
			return e.raw(t, "POST /submit HTTP/1.1\r\nHost: "+e.p.info.IntakeAddr+"\r\nCookie: s="+b.cookie()+
				"\r\nContent-Type: "+mpType+"\r\nContent-Length: 10737418240\r\n\r\n--"+bnd+"\r\n")
		}, status: 413, text: txtTooLarge},
		{name: "path traversal in file name", do: sub(mpType, func(tok string) []byte {
			return mp(mpField("csrf", tok), mpFile(`../../../etc/passwd`, "traversal"), mpFile(`..\..\Windows\win.ini`, "traversal"))
		}), status: 200, text: txtReceived, stored: true},
		{name: "control characters in file name", do: sub(mpType, func(tok string) []byte {
			return mp(mpField("csrf", tok), mpFile("a\x1b[31mred\x7f.txt", "control"))
		}), status: 400, text: txtBad},
		{name: "bidi override and quotes in file name", do: sub(mpType, func(tok string) []byte {
			return mp(mpField("csrf", tok), mpFile(`\u202egnp.exe %22quoted%22 .hidden`, "bidi"), mpFile(".htaccess", "dot"))
		}), status: 200, text: txtReceived, stored: true},
		{name: "forged session cookie", do: func(t *testing.T, e *hostileNet) page {
			b := newBrowser(e.p.intakeURL())
			b.setCookie(strings.Repeat("A", 43))
			return b.get(t, "/submit")
		}, status: 403, text: txtExpired},
		{name: "4 KiB session cookie", do: func(t *testing.T, e *hostileNet) page {
			b := newBrowser(e.p.intakeURL())
			b.setCookie(strings.Repeat("Zz9", 1400))
			return b.get(t, "/inbox")
		}, status: 403, text: txtExpired},
		{name: "session cookie reused after logout", do: func(t *testing.T, e *hostileNet) page {
			b := newBrowser(e.p.intakeURL()).fresh(t)
			old := b.cookie()
			if p := b.post(t, "/logout", url.Values{"csrf": {b.token(t, "/submit")}}); p.status != 200 {
				t.Fatalf("logout:\n%s", p)
			}
			b.setCookie(old)
			return b.get(t, "/submit")
		}, status: 403, text: txtExpired},
		{name: "upload without CSRF part", do: sub(mpType, func(string) []byte { return mp(mpField("message", "no token")) }), status: 403, text: txtCSRF},
		{name: "upload with wrong CSRF", do: sub(mpType, func(string) []byte { return mp(mpField("csrf", "AAAAAAAAAAAAAAAA"), mpField("message", "x")) }), status: 403, text: txtCSRF},
		{name: "login with wrong CSRF", do: func(t *testing.T, e *hostileNet) page {
			return newBrowser(e.p.intakeURL()).post(t, "/login", url.Values{"csrf": {"forged"}, "codename": {words}})
		}, status: 403, text: txtCSRF},
		{name: "new codename without CSRF", do: func(t *testing.T, e *hostileNet) page {
			return newBrowser(e.p.intakeURL()).post(t, "/new", url.Values{})
		}, status: 403, text: txtCSRF},
		{name: "cross-site POST (Sec-Fetch-Site)", do: func(t *testing.T, e *hostileNet) page {
			b := newBrowser(e.p.intakeURL())
			v := url.Values{"csrf": {b.token(t, "/")}}
			req, _ := http.NewRequest(http.MethodPost, b.base+"/new", strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			return b.do(t, req)
		}, status: 403, text: txtCSRF},
		{name: "foreign Origin", do: func(t *testing.T, e *hostileNet) page {
			b := newBrowser(e.p.intakeURL())
			v := url.Values{"csrf": {b.token(t, "/")}}
			req, _ := http.NewRequest(http.MethodPost, b.base+"/new", strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", "http://evil.example")
			return b.do(t, req)
		}, status: 403, text: txtCSRF},
		{name: "delete account with wrong CSRF", do: func(t *testing.T, e *hostileNet) page {
			return newBrowser(e.p.intakeURL()).fresh(t).post(t, "/account/delete", url.Values{"csrf": {"nope"}})
		}, status: 403, text: txtCSRF},
		{name: "form token replayed on new codename", do: func(t *testing.T, e *hostileNet) page {
			b := newBrowser(e.p.intakeURL())
			v := url.Values{"csrf": {b.token(t, "/")}}
			if p := b.post(t, "/new", v); p.status != 200 {
				t.Fatalf("first use of the token:\n%s", p)
			}
			return newBrowser(e.p.intakeURL()).post(t, "/new", v)
		}, status: 403, text: txtCSRF},
		{name: "form token replayed on login", do: func(t *testing.T, e *hostileNet) page {
			b := newBrowser(e.p.intakeURL())
			v := url.Values{"csrf": {b.token(t, "/login")}, "codename": {words}}
			if p := b.post(t, "/login", v); p.status != 403 || !strings.Contains(p.body, txtUnknown) {
				t.Fatalf("first use of the token:\n%s", p)
			}
			return b.post(t, "/login", v)
		}, status: 403, text: txtCSRF},
		{name: "wrong codename", do: login(words), status: 403, text: txtUnknown},
		{name: "truncated codename (6 words)", do: func(t *testing.T, e *hostileNet) page {
			w := strings.Fields(e.codeA)
			return login(strings.Join(w[:6], " "))(t, e)
		}, status: 400, text: "A codename is seven words, but you typed 6 words."},
		{name: "8-word codename", do: func(t *testing.T, e *hostileNet) page {
			return login(e.codeA+" abacus")(t, e)
		}, status: 400, text: "A codename is seven words, but you typed 8 words."},
		{name: "words not on the list", do: login("correct horse battery staple xyzzy plugh frobnicate"), status: 400, text: "The second word is not one of ours."},
		{name: "codename of 10 KB", do: login(strings.Repeat("abacus ", 1500)), status: 400, text: txtInvalid},
		{name: "codename with invalid UTF-8", do: login("abacus\xff abdomen abdominal abide abiding ability ablaze"), status: 400, text: txtInvalid},
		{name: "header of 40 KB", do: func(t *testing.T, e *hostileNet) page {
			return e.raw(t, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("h", 40<<10)+"\r\n\r\n")
		}, status: 431, text: "Request Header Fields Too Large"},
		{name: "HTTP/9.9", do: func(t *testing.T, e *hostileNet) page {
			return e.raw(t, "GET / HTTP/9.9\r\nHost: x\r\n\r\n")
		}, status: 505, text: "HTTP Version Not Supported"},
		{name: "conflicting Content-Length headers", do: func(t *testing.T, e *hostileNet) page {
			return e.raw(t, "POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\nhello")
		}, status: 400, text: "Bad Request"},
		{name: "unknown path", do: get("/admin.php"), status: 404, text: txtNotFound},
		{name: "dot-dot path", do: get("/static/..%2f..%2f..%2fetc%2fpasswd"), status: 404, text: txtNotFound},
		{name: "DELETE on the landing page", do: func(t *testing.T, e *hostileNet) page {
			return newBrowser(e.p.intakeURL()).req(t, http.MethodDelete, "/", "", nil)
		}, status: 405, text: txtMethod},
		{name: "GET on logout", do: get("/logout"), status: 405, text: txtMethod},
		{name: "script in ?l=", do: get("/?l=%22%3E%3Cscript%3Ealert(1)%3C/script%3E"), status: 200, text: txtLanding, absent: "<script"},
		{name: "garbage Accept-Language", do: func(t *testing.T, e *hostileNet) page {
			b := newBrowser(e.p.intakeURL())
			req, _ := http.NewRequest(http.MethodGet, b.base+"/", nil)
			req.Header.Set("Accept-Language", "\xff;q=abc,,,*-*-*;q=9e99,"+strings.Repeat("x-", 400))
			return b.do(t, req)
		}, status: 200, text: txtLanding},
		{name: "inbox without a session", do: get("/inbox"), status: 403, text: txtExpired},
		{name: "download another source's reply", do: func(t *testing.T, e *hostileNet) page {
			b := newBrowser(e.p.intakeURL())
			b.login(t, e.codeA)
			return b.get(t, "/inbox/file/"+e.replyB+"/0")
		}, status: 404, text: txtNotFound},
		{name: "delete another source's reply", do: func(t *testing.T, e *hostileNet) page {
			b := newBrowser(e.p.intakeURL())
			b.login(t, e.codeA)
			return b.post(t, "/inbox/delete", url.Values{"csrf": {b.token(t, "/inbox")}, "id": {e.replyB}})
		}, status: 404, text: txtNotFound},
		{name: "reply part index out of range", do: asB(func(t *testing.T, e *hostileNet, b *browser) page {
			return b.get(t, "/inbox/file/"+e.replyB+"/99")
		}), status: 404, text: txtNotFound},
		{name: "negative reply part index", do: asB(func(t *testing.T, e *hostileNet, b *browser) page {
			return b.get(t, "/inbox/file/"+e.replyB+"/-1")
		}), status: 404, text: txtNotFound},
		{name: "reply part index 2^64", do: asB(func(t *testing.T, e *hostileNet, b *browser) page {
			return b.get(t, "/inbox/file/"+e.replyB+"/18446744073709551616")
		}), status: 404, text: txtNotFound},
		{name: "reply id with traversal", do: asB(func(t *testing.T, e *hostileNet, b *browser) page {
			return b.get(t, "/inbox/file/..%2f..%2fpostern.db/0")
		}), status: 404, text: txtNotFound},
	}
}
