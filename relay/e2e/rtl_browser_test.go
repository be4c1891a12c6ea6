package e2e_test

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postern/intake/web"
)

// axeJS are where npm install -g puts axe-core (.ci/run installs it);
// POSTERN_AXE_JS names another copy.
var axeJS = []string{"/usr/lib/node_modules/axe-core/axe.min.js", "/usr/local/lib/node_modules/axe-core/axe.min.js"}

// TestBrowserRightToLeftNoJS walks a source's whole visit in Arabic and in
// Persian in real Chromium with JavaScript off for the pages: the landing
// page chosen by ?l=, a codename (left to right inside the right-to-left
// page), practising it, sending a message with an Arabic-named file,
// logging out, logging in again with the codename typed in capitals with
// dots between the words, and reading the journalist's reply with its
// attachment. Every page is dir="rtl" and passes axe-core's WCAG 2 A and
// AA rules. Screenshots of the codename and reply pages are kept in
// POSTERN_SCREENSHOTS when set (a test artifact, not committed).
func TestBrowserRightToLeftNoJS(t *testing.T) {
	needChromium(t)
	axe := needAxe(t)
	for _, lang := range []string{"ar", "fa"} {
		t.Run(lang, func(t *testing.T) { rtlWalk(t, lang, axe) })
	}
}

func rtlWalk(t *testing.T, lang, axe string) {
	in := newInstance(t, cheapConf)
	logs := &syncBuf{}
	p := startRelay(t, in, logs)
	b := startChromium(t)
	checker := startChromiumScripts(t, true) // runs axe-core on the same pages
	shots := os.Getenv("POSTERN_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("relay stderr (tail):\n%s", lastBytes(logs.Bytes(), 4000))
		}
	})
	l := "?l=" + lang
	page := func(what string) {
		t.Helper()
		b.waitFor(t, "css selector", `html[lang="`+lang+`"][dir="rtl"] main h1`)
		b.noScript(t)
		checker.axeClean(t, axe, b, lang+" "+what)
	}

	b.navigate(t, p.intakeURL()+"/"+l)
	page("landing")
	b.click(t, b.find(t, "css selector", `form[action="/new`+l+`"] button`))
	page("codename")
	codename := b.text(t, b.waitFor(t, "css selector", `p[aria-labelledby="codename-label"][lang="en"][dir="ltr"] strong`))
	if n := len(strings.Fields(codename)); n != 7 {
		t.Fatalf("codename %q has %d words", codename, n)
	}
	b.screenshot(t, filepath.Join(shots, "rtl-"+lang+"-codename.png"))

	b.sendKeys(t, b.find(t, "css selector", "#practice-codename"), strings.ToUpper(codename))
	b.click(t, b.find(t, "css selector", `form[action="/practice`+l+`"] button`))
	page("practice")
	b.waitFor(t, "css selector", "main p.ok")
	b.click(t, b.find(t, "css selector", `main a.button[href="/submit`+l+`"]`))
	page("submit")

	data := make([]byte, 20<<10)
	rand.Read(data)
	upload := filepath.Join(t.TempDir(), "تقرير-٢٠٢٦.pdf")
	if err := os.WriteFile(upload, data, 0o600); err != nil {
		t.Fatal(err)
	}
	text := "مرحبا — سلام ✓ 2026"
	b.sendKeys(t, b.find(t, "css selector", "#message"), text)
	b.sendKeys(t, b.find(t, "css selector", `input[type="file"]#files`), upload)
	b.click(t, b.find(t, "css selector", `form[action="/submit`+l+`"] button[type="submit"]`))
	page("received")
	b.waitFor(t, "css selector", "main p.ok")

	b.click(t, b.find(t, "css selector", "form.logout button"))
	page("logged out")
	b.navigate(t, p.intakeURL()+"/login"+l)
	page("login")
	b.sendKeys(t, b.find(t, "css selector", `#codename[lang="en"][dir="ltr"]`), strings.ToUpper(strings.Join(strings.Fields(codename), ". ")))
	b.click(t, b.find(t, "css selector", `form[action="/login`+l+`"] button`))
	page("inbox")
	if n := b.count(t, "article.reply"); n != 0 {
		t.Fatalf("%d replies before any was sent", n)
	}

	ms, _ := inbox(t, p, in)
	if len(ms) != 1 || !strings.Contains(ms[0].Dec.Text, text) {
		t.Fatalf("the journalist reads %d messages, want 1 with %q", len(ms), text)
	}
	reply := []string{"شكرا — MKrtlReply", "MKrtlSubj", "MKrtlName", "MKrtlFile"}
	replyBySMTP(t, p, in, ms[0], reply)
	deadline := time.Now().Add(waitLimit)
	for b.refresh(t); b.count(t, "article.reply") == 0; b.refresh(t) {
		if time.Now().After(deadline) {
			t.Fatalf("no reply on the inbox page within %v", waitLimit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	page("reply")
	shown := b.text(t, b.find(t, "css selector", "article.reply"))
	for _, want := range []string{reply[0], reply[2] + ".txt"} {
		if !strings.Contains(shown, want) {
			t.Errorf("the reply on the page lacks %q:\n%s", want, shown)
		}
	}
	if b.count(t, `section.danger-zone a.button.danger[href="/account/delete`+l+`"]`) != 1 {
		t.Error("no destructive Delete my account link in the deletion section")
	}
	b.screenshot(t, filepath.Join(shots, "rtl-"+lang+"-reply.png"))
	b.click(t, b.find(t, "css selector", `section.danger-zone a[href="/inbox/delete-all`+l+`"]`))
	page("confirm delete all")
}

// needAxe returns the path of axe-core's script; without it the test
// skips, and fails under CI, which installs it.
func needAxe(t *testing.T) string {
	t.Helper()
	paths := axeJS
	if p := os.Getenv("POSTERN_AXE_JS"); p != "" {
		paths = []string{p}
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("axe-core is required in CI (npm install -g axe-core@4.14.1): none of %v", paths)
	}
	t.Skipf("axe-core not installed (npm install -g axe-core@4.14.1); skipping")
	return ""
}

// axeViolation is what the test reports of one axe-core finding.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Nodes  []string `json:"nodes"`
}

// axeClean loads the page src shows (a GET of its address, with src's
// cookies, so the same session) and runs axe-core's WCAG 2 A and AA rules
// on it; any violation fails t. b must allow scripts: axe is one, even if
// the page carries none, and a page whose scripts are blocked never runs
// axe's timers. The walk itself stays in src, where scripts are off.
func (b *wdSession) axeClean(t *testing.T, axePath string, src *wdSession, what string) {
	t.Helper()
	var cookies []map[string]any
	src.must(t, http.MethodGet, "/cookie", nil, &cookies)
	u := src.url(t)
	b.navigate(t, u)
	b.must(t, http.MethodDelete, "/cookie", nil, nil)
	for _, c := range cookies {
		delete(c, "sameSite")
		b.must(t, http.MethodPost, "/cookie", map[string]any{"cookie": c}, nil)
	}
	b.navigate(t, u)
	js, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatal(err)
	}
	var ok bool
	if err := b.call(http.MethodPost, "/execute/sync", map[string]any{"script": string(js) + "\n;return typeof axe === 'object';", "args": []any{}}, &ok); err != nil || !ok {
		t.Fatalf("%s: injecting axe-core: %v", what, err)
	}
	const run = `var done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
  .then(function (r) { done(JSON.stringify(r.violations.map(function (v) {
    return {id: v.id, impact: v.impact, nodes: v.nodes.map(function (n) { return n.target.join(' '); })};
  }))); })
  .catch(function (e) { done('error: ' + e); });`
	b.must(t, http.MethodPost, "/timeouts", map[string]any{"script": 60000}, nil)
	var out string
	if err := b.call(http.MethodPost, "/execute/async", map[string]any{"script": run, "args": []any{}}, &out); err != nil {
		t.Fatalf("%s: axe.run: %v", what, err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		t.Fatalf("%s: axe.run: %s", what, out)
	}
	for _, v := range vs {
		t.Errorf("%s: axe %s (%s) on %v", what, v.ID, v.Impact, v.Nodes)
	}
}

// TestBrowserLandingAxeEveryLanguage: the landing page passes axe-core's
// WCAG 2 A and AA rules in every language the form speaks.
func TestBrowserLandingAxeEveryLanguage(t *testing.T) {
	needChromium(t)
	axe := needAxe(t)
	in := newInstance(t, cheapConf)
	logs := &syncBuf{}
	p := startRelay(t, in, logs)
	b := startChromium(t)
	checker := startChromiumScripts(t, true)
	langs, err := web.AllLanguages()
	if err != nil {
		t.Fatal(err)
	}
	if len(langs) != 26 {
		t.Errorf("%d languages, want 26", len(langs))
	}
	for _, l := range langs {
		b.navigate(t, p.intakeURL()+"/?l="+l.Code)
		b.waitFor(t, "css selector", `html[lang="`+l.Code+`"] main h1`)
		checker.axeClean(t, axe, b, l.Code+" landing")
	}
}
