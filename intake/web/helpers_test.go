package web

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/delivery"
	"postern/mailbox/kdf"
	"postern/mailbox/pgp"
	"postern/mailbox/pgpmime"
	"postern/mailbox/store"
)

// torUA is what Tor Browser 14 (ESR 128) sends on every platform.
const torUA = "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0"

// testParams keep argon2 cheap in tests that are not about its cost.
var testParams = kdf.Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}

type env struct {
	t    testing.TB
	dir  string
	st   *store.Store
	srv  *Server
	ts   *httptest.Server
	jkey *openpgp.Entity // the journalist's key, private half included
	opts Options
}

// newEnv starts a real store, a real KDF pool and the form on a loopback
// HTTP server. edit may change the options before New.
func newEnv(t testing.TB, edit func(*Options)) *env {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	st, err := store.Init(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	seed := bytes.Repeat([]byte{7}, 32)
	jkey, err := pgp.DeriveKey(seed, "Alice <alice@newsroom.example>")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddJournalist(store.Journalist{
		Name: "alice", PublicKey: pgp.Serialize(jkey), Fingerprint: fingerprint(jkey),
		PasswordHash: "$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
	}); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, st: st, jkey: jkey}
	e.opts = Options{
		Store: st, Pool: kdf.NewPool(kdf.PoolOptions{Workers: 2, Queue: 8}),
		Deliverer: delivery.New(delivery.Options{Store: st, Domain: "postern.local", Compress: true}),
		Domain:    "postern.local", OrgName: "The Daily Test",
		KDF: testParams, Salt: st.Salt(), Version: "test", AllowUploads: true, PublishKeyFPRs: true,
	}
	if edit != nil {
		edit(&e.opts)
	}
	e.srv, err = New(e.opts)
	if err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	return e
}

// check asserts the store is consistent (refcounts, no stray blobs).
func (e *env) check() {
	e.t.Helper()
	if err := e.st.Check(); err != nil {
		e.t.Fatalf("store check: %v", err)
	}
}

func (e *env) stats() store.Stats {
	e.t.Helper()
	s, err := e.st.Stats()
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// browser is a cookie-jar client that looks like Tor Browser and checks
// every response's headers and HTML.
type browser struct {
	e   *env
	c   *http.Client
	ua  string
	all []string // every HTML body seen, for global assertions
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, ua: torUA, c: &http.Client{Jar: jar, Timeout: 5 * time.Minute}}
}

type page struct {
	status int
	header http.Header
	body   string // without the Unicode isolates (FSI, PDI) around formatted values
	raw    string // as served
	url    string
}

// isolates strips the bidi isolates that wrap every value formatted into a
// message, so that tests can look for "up to 100 files".
var isolates = strings.NewReplacer("\u2068", "", "\u2069", "")

func (b *browser) do(req *http.Request) page {
	b.e.t.Helper()
	req.Header.Set("User-Agent", b.ua)
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.e.t.Fatalf("%s %s: read: %v", req.Method, req.URL.Path, err)
	}
	p := page{status: resp.StatusCode, header: resp.Header, body: isolates.Replace(string(body)), raw: string(body), url: resp.Request.URL.String()}
	checkResponse(b.e.t, resp, p.body)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		b.all = append(b.all, p.body)
	}
	return p
}

func (b *browser) get(path string) page {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.ts.URL+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, v url.Values) page {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.ts.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// part is one multipart field; a file when filename is set or file is true.
type part struct {
	name, filename string
	file           bool
	data           io.Reader
}

func field(name, v string) part { return part{name: name, data: strings.NewReader(v)} }
func filePart(name string, data io.Reader) part {
	return part{name: "file", filename: name, file: true, data: data}
}

// postMultipart streams the parts through a pipe, as a browser would,
// without building the body in memory.
func (b *browser) postMultipart(path string, parts ...part) page {
	b.e.t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for _, p := range parts {
			h := textproto.MIMEHeader{}
			if p.file {
				h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, p.name, p.filename))
				h.Set("Content-Type", "application/octet-stream")
			} else {
				h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q`, p.name))
			}
			w, err := mw.CreatePart(h)
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(w, p.data); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(mw.Close())
	}()
	req, _ := http.NewRequest(http.MethodPost, b.e.ts.URL+path, pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

// postRaw sends a body as it is, with a given content type.
func (b *browser) postRaw(path, ctype string, body []byte) page {
	b.e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.ts.URL+path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return b.do(req)
}

var (
	csrfRE     = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	codenameRE = regexp.MustCompile(`<p aria-labelledby="codename-label" lang="en" dir="ltr"><strong>([^<]+)</strong></p>`)
)

func csrfOf(t testing.TB, p page) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no csrf token on page %s:\n%s", p.url, p.body)
	}
	return m[1]
}

// newCodename goes from the landing page through "I am new" and returns the
// codename shown.
func (b *browser) newCodename() string {
	t := b.e.t
	t.Helper()
	land := b.get("/")
	p := b.post("/new", url.Values{"csrf": {csrfOf(t, land)}})
	if p.status != http.StatusOK {
		t.Fatalf("new codename: %d\n%s", p.status, p.body)
	}
	m := codenameRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no codename shown:\n%s", p.body)
	}
	return m[1]
}

func (b *browser) login(codename string) page {
	b.e.t.Helper()
	lp := b.get("/login")
	return b.post("/login", url.Values{"csrf": {csrfOf(b.e.t, lp)}, "codename": {codename}})
}

func (b *browser) token(path string) string {
	b.e.t.Helper()
	return csrfOf(b.e.t, b.get(path))
}

var onAttrRE = regexp.MustCompile(`<[^>]*\son[a-z]+\s*=`)

var externalRE = regexp.MustCompile(`(?i)(?:src|href|action)\s*=\s*"(?:[a-z][a-z0-9+.-]*:|//)`)

// checkResponse asserts what every response must carry.
func checkResponse(t testing.TB, resp *http.Response, body string) {
	t.Helper()
	for _, kv := range securityHeaders {
		if got := resp.Header.Get(kv[0]); got != kv[1] {
			t.Errorf("%s %s: header %s = %q, want %q", resp.Request.Method, resp.Request.URL.Path, kv[0], got, kv[1])
		}
	}
	for _, h := range []string{"Date", "ETag", "Server", "Last-Modified", "X-Powered-By"} {
		if resp.Header.Get(h) != "" {
			t.Errorf("%s: header %s present", resp.Request.URL.Path, h)
		}
	}
	for _, c := range resp.Cookies() {
		if c.Name != cookieName {
			t.Errorf("unexpected cookie %q", c.Name)
		}
	}
	for _, sc := range resp.Header.Values("Set-Cookie") {
		low := strings.ToLower(sc)
		for _, want := range []string{"httponly", "samesite=strict", "path=/"} {
			if !strings.Contains(low, want) {
				t.Errorf("cookie %q lacks %s", sc, want)
			}
		}
		if strings.Contains(low, "secure;") || strings.HasSuffix(low, "secure") || strings.Contains(low, "domain=") {
			t.Errorf("cookie %q has Secure or Domain", sc)
		}
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		low := strings.ToLower(body)
		if strings.Contains(low, "<script") || strings.Contains(low, "javascript:") || onAttrRE.MatchString(low) {
			t.Errorf("%s: script in page", resp.Request.URL.Path)
		}
		if m := externalRE.FindString(body); m != "" {
			t.Errorf("%s: external reference %q", resp.Request.URL.Path, m)
		}
		if !strings.HasPrefix(body, "<!DOCTYPE html>") {
			t.Errorf("%s: not a full page", resp.Request.URL.Path)
		}
	}
}

// delivered decrypts every message in the journalist's INBOX, in order.
func (e *env) delivered() []*pgpmime.Decrypted {
	e.t.Helper()
	msgs, err := e.st.Messages("alice", "INBOX")
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*pgpmime.Decrypted
	for _, m := range msgs {
		f, err := e.st.OpenBlob(m.Blob.ID)
		if err != nil {
			e.t.Fatal(err)
		}
		d, err := pgpmime.Decrypt(f, openpgp.EntityList{e.jkey})
		f.Close()
		if err != nil {
			e.t.Fatalf("decrypt submission: %v", err)
		}
		out = append(out, d)
	}
	return out
}

// partBytes returns attachment i of d.
func partBytes(t testing.TB, d *pgpmime.Decrypted, i int) []byte {
	t.Helper()
	r, err := d.Open(i)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// grepDir fails if any file under dir contains any of the markers.
func grepDir(t *testing.T, dir string, markers ...string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		for _, m := range markers {
			if strings.Contains(p, m) {
				t.Errorf("marker %q in path %s", m, p)
			}
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		for _, m := range markers {
			if bytes.Contains(b, []byte(m)) {
				t.Errorf("marker %q found in %s", m, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("grepDir: no file under", dir)
	}
}
