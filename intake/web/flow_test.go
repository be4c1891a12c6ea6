package web

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/ecdh"
	"github.com/ProtonMail/go-crypto/openpgp/eddsa"
)

func TestSourceFlow(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()

	land := b.get("/")
	if land.status != 200 || !strings.Contains(land.body, "The Daily Test") || strings.Contains(land.body, `class="notice"`) {
		t.Fatalf("landing: %d\n%s", land.status, land.body)
	}
	if len(b.c.Jar.Cookies(mustURL(e.ts.URL))) != 0 {
		t.Fatal("a cookie before any session")
	}

	codename := b.newCodename()
	if len(strings.Fields(codename)) != 7 {
		t.Fatalf("codename %q", codename)
	}
	if cs := b.c.Jar.Cookies(mustURL(e.ts.URL)); len(cs) != 1 || strings.Contains(cs[0].Value, strings.Fields(codename)[0]) {
		t.Fatalf("cookies after new: %v", cs)
	}
	// Reloading does not show the codename again.
	if p := b.get("/new"); p.status != 200 || strings.Contains(p.body, codename) {
		t.Fatalf("GET /new shows the codename again:\n%s", p.body)
	}

	// Practice: right (with other spacing and case), then wrong.
	tok := b.token("/practice")
	p := b.post("/practice", url.Values{"csrf": {tok}, "codename": {"  " + strings.ToUpper(codename) + " "}})
	if !strings.Contains(p.body, "That is right") {
		t.Fatalf("practice right:\n%s", p.body)
	}
	words := strings.Fields(codename)
	wrong := strings.Join(append(append([]string{}, words[1:]...), words[0]), " ")
	p = b.post("/practice", url.Values{"csrf": {tok}, "codename": {wrong}})
	if !strings.Contains(p.body, "does not match") || !strings.Contains(p.body, "has not been used yet") {
		t.Fatalf("practice wrong:\n%s", p.body)
	}
	// A word not on the list is pointed out, by position.
	misspelt := strings.Join(append(append(append([]string{}, words[:3]...), words[3]+"qq"), words[4:]...), " ")
	p = b.post("/practice", url.Values{"csrf": {tok}, "codename": {misspelt}})
	if !strings.Contains(p.body, "The fourth word is not one of ours") || !strings.Contains(p.body, "does not match") {
		t.Fatalf("practice misspelt:\n%s", p.body)
	}
	if e.stats().Sources != 0 {
		t.Fatal("a source record before the first submission")
	}

	// Submit text and two files.
	tok = b.token("/submit")
	p = b.postMultipart("/submit",
		field("csrf", tok), field("subject", "Quarterly figures"),
		field("message", "Line one\r\nLine two"),
		filePart("report.pdf", strings.NewReader("%PDF-1.4 pretend")),
		filePart("photo.jpg", bytes.NewReader(bytes.Repeat([]byte{0xff, 0xd8}, 50000))),
		filePart("", strings.NewReader("")), // an empty file input
	)
	if p.status != 200 || !strings.Contains(p.url, "/submitted") || !strings.Contains(p.body, "received and encrypted") {
		t.Fatalf("submit: %d %s\n%s", p.status, p.url, p.body)
	}
	ds := e.delivered()
	if len(ds) != 1 || ds[0].Subject != "Quarterly figures" || !strings.Contains(ds[0].Text, "Line one") ||
		!strings.Contains(ds[0].Text, "Line two") {
		t.Fatalf("delivered: %+v", ds)
	}
	var names []string
	for i, p := range ds[0].Parts {
		if p.ContentType != "application/pgp-keys" {
			names = append(names, p.Name)
			if p.Name == "photo.jpg" && !bytes.Equal(partBytes(t, ds[0], i), bytes.Repeat([]byte{0xff, 0xd8}, 50000)) {
				t.Fatal("photo.jpg changed in transit")
			}
		}
	}
	if strings.Join(names, ",") != "report.pdf,photo.jpg" {
		t.Fatalf("attachments %q", names)
	}
	st := e.stats()
	if st.Sources != 1 || st.Messages != 1 {
		t.Fatalf("stats after submit: %+v", st)
	}
	e.check()

	// A second submission, text only, reuses the source.
	p = b.postMultipart("/submit", field("csrf", tok), field("message", "more"))
	if !strings.Contains(p.url, "/submitted") {
		t.Fatalf("second submit: %d\n%s", p.status, p.body)
	}
	if st := e.stats(); st.Sources != 1 || st.Messages != 2 {
		t.Fatalf("stats after second submit: %+v", st)
	}
	// After use, no "get another".
	if p := b.get("/new"); strings.Contains(p.body, "Get a different codename") {
		t.Fatal("get another offered after first use")
	}

	// Log out: the old cookie no longer works, and the keys are wiped.
	old := b.c.Jar.Cookies(mustURL(e.ts.URL))
	sess := e.srv.sessions.Get(old[0].Value)
	sess.Lock()
	held := sess.Data.(*state)
	key := held.key
	sess.Unlock()
	if key == nil || held.id.ReplySeed == [32]byte{} {
		t.Fatal("no key material held after a submission")
	}
	p = b.post("/logout", url.Values{"csrf": {tok}})
	if p.status != 200 || !strings.Contains(p.body, "logged out") {
		t.Fatalf("logout: %d\n%s", p.status, p.body)
	}
	if e.srv.sessions.Len() != 0 {
		t.Fatal("session left after logout")
	}
	if held.id.ReplySeed != [32]byte{} || held.id.SourceID != [32]byte{} || held.key != nil {
		t.Fatal("identity not wiped at logout")
	}
	for _, k := range []any{key.PrivateKey.PrivateKey, key.Subkeys[0].PrivateKey.PrivateKey} {
		switch k := k.(type) {
		case *eddsa.PrivateKey:
			if !bytes.Equal(k.D, make([]byte, len(k.D))) {
				t.Fatal("signing key not zeroed")
			}
		case *ecdh.PrivateKey:
			if !bytes.Equal(k.D, make([]byte, len(k.D))) {
				t.Fatal("encryption key not zeroed")
			}
		default:
			t.Fatalf("unexpected private key type %T", k)
		}
	}
	b2 := e.browser()
	b2.c.Jar.SetCookies(mustURL(e.ts.URL), old)
	if p := b2.get("/inbox"); p.status != http.StatusForbidden || !strings.Contains(p.body, "Session ended") {
		t.Fatalf("old cookie after logout: %d", p.status)
	}

	// Log in again, with messy spacing.
	p = b.login(strings.ReplaceAll(codename, " ", "   "))
	if p.status != 200 || !strings.Contains(p.url, "/inbox") || !strings.Contains(p.body, "no replies yet") {
		t.Fatalf("login: %d %s\n%s", p.status, p.url, p.body)
	}
	// Practice works in a login session too.
	p = b.post("/practice", url.Values{"csrf": {b.token("/practice")}, "codename": {codename}})
	if !strings.Contains(p.body, "That is right") || strings.Contains(p.body, "Get a different codename") {
		t.Fatalf("practice after login:\n%s", p.body)
	}

	// Delete the account.
	if p := b.get("/account/delete"); p.status != 200 || !strings.Contains(p.body, "Yes, delete everything") {
		t.Fatalf("delete page: %d", p.status)
	}
	p = b.post("/account/delete", url.Values{"csrf": {b.token("/account/delete")}})
	if p.status != 200 || !strings.Contains(p.body, "Everything is deleted") {
		t.Fatalf("delete: %d\n%s", p.status, p.body)
	}
	if st := e.stats(); st.Sources != 0 || st.Messages != 0 || st.Blobs != 0 {
		t.Fatalf("stats after delete: %+v", st)
	}
	e.check()
	p = b.login(codename)
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "not recognised") {
		t.Fatalf("login after delete: %d\n%s", p.status, p.body)
	}
}

func TestGetAnotherCodename(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	first := b.newCodename()
	p := b.post("/new", url.Values{"csrf": {b.token("/practice")}})
	m := codenameRE.FindStringSubmatch(p.body)
	if m == nil || m[1] == first || !strings.Contains(p.body, "previous codename was not used") {
		t.Fatalf("get another:\n%s", p.body)
	}
	if e.srv.sessions.Len() != 1 {
		t.Fatalf("%d sessions", e.srv.sessions.Len())
	}
	// The first codename was never used: it cannot log in.
	if p := b.login(first); p.status != http.StatusForbidden {
		t.Fatalf("unused codename logged in: %d", p.status)
	}
}

func TestLanguages(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/", nil)
	req.Header.Set("Accept-Language", "fr-CH, fr;q=0.9, en;q=0.8")
	p := b.do(req)
	if !strings.Contains(p.body, `<html lang="fr" dir="ltr">`) || !strings.Contains(p.body, "Comment rester en sécurité") {
		t.Fatalf("Accept-Language fr:\n%s", p.body)
	}
	p = b.get("/login?l=fr")
	if !strings.Contains(p.body, `action="/login?l=fr"`) || !strings.Contains(p.body, "Se connecter") {
		t.Fatalf("?l=fr:\n%s", p.body)
	}
	req, _ = http.NewRequest(http.MethodGet, e.ts.URL+"/?l=en", nil)
	req.Header.Set("Accept-Language", "fr")
	if p := b.do(req); !strings.Contains(p.body, `<html lang="en" dir="ltr">`) {
		t.Fatal("?l= did not win over Accept-Language")
	}
	for _, al := range []string{"xh", "", "en-US,en;q=0.5", "xx-YY;q=oops", strings.Repeat("a,", 500)} {
		req, _ = http.NewRequest(http.MethodGet, e.ts.URL+"/", nil)
		req.Header.Set("Accept-Language", al)
		if p := b.do(req); !strings.Contains(p.body, `<html lang="en" dir="ltr">`) {
			t.Fatalf("Accept-Language %q: not English", al)
		}
	}
	req, _ = http.NewRequest(http.MethodGet, e.ts.URL+"/login", nil)
	req.Header.Set("Accept-Language", "fa-IR, fa;q=0.9")
	if p := b.do(req); !strings.Contains(p.body, `<html lang="fa" dir="rtl">`) {
		t.Fatal("Accept-Language fa-IR did not give Persian")
	}
	// Every page lists every language, each named in itself, with a plain
	// ?l= link; choosing one sets no cookie.
	for _, path := range []string{"/", "/login", "/nowhere"} {
		p := b.get(path + "?l=ar")
		for _, want := range []string{
			`<a href="` + path + `?l=fr" lang="fr" dir="ltr" hreflang="fr">Français</a>`,
			`<a href="` + path + `?l=ar" lang="ar" dir="rtl" hreflang="ar" aria-current="page">العربية</a>`,
			`<a href="` + path + `?l=en" lang="en" dir="ltr" hreflang="en">English</a>`,
		} {
			if !strings.Contains(p.body, want) {
				t.Errorf("%s lacks %s", path, want)
			}
		}
	}
	if c := b.c.Jar.Cookies(mustURL(e.ts.URL)); len(c) != 0 {
		t.Errorf("choosing a language set cookies: %v", c)
	}
}

func TestTorNotice(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	b.ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
	if p := b.get("/"); !strings.Contains(p.body, `class="notice"`) {
		t.Fatal("no notice for Chrome")
	}
	for ua, want := range map[string]bool{
		torUA: true,
		"Mozilla/5.0 (Windows NT 10.0; rv:140.0) Gecko/20100101 Firefox/140.0":             true,
		"Mozilla/5.0 (Android 10; Mobile; rv:128.0) Gecko/128.0 Firefox/128.0":             true,
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0": false,
		"Mozilla/5.0 (Windows NT 10.0; rv:129.0) Gecko/20100101 Firefox/129.0":             false,
		"": false,
	} {
		if got := looksLikeTorBrowser(ua); got != want {
			t.Errorf("looksLikeTorBrowser(%q) = %v", ua, got)
		}
	}
}

func TestMetadata(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	p := b.get("/metadata")
	if p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Type"), "application/json") {
		t.Fatalf("metadata: %d %s", p.status, p.header.Get("Content-Type"))
	}
	for _, want := range []string{`"organisation": "The Daily Test"`, `"allow_uploads": true`, `"version": "test"`,
		`"en"`, `"fr"`, `"ar": "العربية"`, `"fr": "Français"`, fingerprint(e.jkey)} {
		if !strings.Contains(p.body, want) {
			t.Errorf("metadata lacks %s:\n%s", want, p.body)
		}
	}
	// publish_key_fingerprints = no: none listed.
	e = newEnv(t, func(o *Options) { o.PublishKeyFPRs = false })
	p = e.browser().get("/metadata")
	if !strings.Contains(p.body, `"submission_key_fingerprints": []`) || strings.Contains(p.body, fingerprint(e.jkey)) {
		t.Errorf("metadata lists fingerprints although told not to:\n%s", p.body)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestDemoBannerAndHTTPServer(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Demo = true })
	want(t, e.browser().get("/"), 200, "NOT anonymous")
	if p := newEnv(t, nil).browser().get("/"); strings.Contains(p.body, "NOT anonymous") {
		t.Fatal("demo banner without Demo")
	}
	hs := e.srv.HTTPServer("127.0.0.1:0")
	if hs.ReadTimeout != 0 || hs.ReadHeaderTimeout <= 0 || hs.IdleTimeout <= 0 || hs.MaxHeaderBytes <= 0 || hs.Handler == nil {
		t.Fatalf("http.Server %+v", hs)
	}
}
