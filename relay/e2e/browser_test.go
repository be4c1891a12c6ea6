package e2e_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"postern/tools/sourceclient"
)

// The browser test drives Debian's Chromium (packages chromium and
// chromium-driver) through chromedriver, speaking the W3C WebDriver protocol
// by hand.
const (
	chromiumBin     = "/usr/bin/chromium"
	chromedriverBin = "/usr/bin/chromedriver"
	// webElementKey names an element reference in WebDriver JSON.
	webElementKey = "element-6066-11e4-a52e-4f735466cecf"
	// waitLimit bounds every wait for a page or an element.
	waitLimit = time.Minute
)

// TestBrowserSourceFlowNoJS is a source's whole visit in a real browser with
// JavaScript disabled, as Tor Browser's "Safest" level has it: get a
// codename, practise it, send a message with non-ASCII text and a 3 MiB
// file, log out, log in again, see no reply; the journalist reads the
// submission over IMAP and replies over SMTP; the source reloads the inbox,
// reads the reply and downloads its attachment. Every step is a click or
// typing in the real pages, and no page carries a script element. Set
// POSTERN_SCREENSHOTS to a folder to keep the screenshots.
func TestBrowserSourceFlowNoJS(t *testing.T) {
	needChromium(t)
	in := newInstance(t, cheapConf)
	logs := &syncBuf{}
	p := startRelay(t, in, logs)
	if p.info.SMTPAddr == "" {
		t.Fatal("relay serve runs no SMTP: the journalist cannot reply")
	}
	b := startChromium(t)
	shots := os.Getenv("POSTERN_SCREENSHOTS") // a folder to keep them in
	if shots == "" {
		shots = t.TempDir()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("relay stderr (tail):\n%s", lastBytes(logs.Bytes(), 4000))
		}
	})

	// First prove that scripting is off: <noscript> content renders only
	// then, and the inline script must not have renamed the page.
	const probe = `<!DOCTYPE html><title>probe</title><p id="s">static</p>` +
		`<noscript><p id="n">scripting is off</p></noscript>` +
		`<script>document.title = "script ran"</script>`
	b.navigate(t, "data:text/html;charset=utf-8,"+url.PathEscape(probe))
	b.waitFor(t, "css selector", "#s")
	if title := b.title(t); title != "probe" {
		t.Fatalf("page title is %q: an inline script ran, JavaScript is enabled", title)
	}
	if b.count(t, "#n") != 1 || !b.displayed(t, b.find(t, "css selector", "#n")) {
		t.Fatal("<noscript> content is not displayed: JavaScript is enabled in the browser")
	}

	// Landing page → "I am new" → the codename, shown once.
	b.navigate(t, p.intakeURL()+"/")
	b.click(t, b.waitFor(t, "xpath", xpButton("I am new: get a codename")))
	codename := b.text(t, b.waitFor(t, "css selector", `p[aria-labelledby="codename-label"] strong`))
	if n := len(strings.Fields(codename)); n != 7 {
		t.Fatalf("codename %q has %d words, want 7", codename, n)
	}
	b.noScript(t)
	b.screenshot(t, filepath.Join(shots, "codename.png"))

	// Practise it, then go on to the form.
	b.sendKeys(t, b.find(t, "css selector", "#practice-codename"), codename)
	b.click(t, b.find(t, "xpath", xpButton("Check")))
	b.waitText(t, "That is right: it matches your codename.")
	b.noScript(t)
	b.click(t, b.find(t, "xpath", xpLink("Continue to send a message")))

	// The form: subject, two lines of non-ASCII text, one 3 MiB file.
	const (
		subject = "Prüfung ✓"
		line1   = "Grüße — test ✓"
		line2   = "zweite Zeile: ½ € 日本"
	)
	data := make([]byte, 3<<20)
	rand.Read(data)
	upload := filepath.Join(t.TempDir(), "Bericht-Grüße.bin")
	if err := os.WriteFile(upload, data, 0o600); err != nil {
		t.Fatal(err)
	}
	b.sendKeys(t, b.waitFor(t, "css selector", "#subject"), subject)
	b.sendKeys(t, b.find(t, "css selector", "#message"), line1+"\n"+line2)
	b.sendKeys(t, b.find(t, "css selector", `input[type="file"]#files`), upload)
	b.noScript(t)
	b.click(t, b.find(t, "xpath", xpButton("Send")))
	b.waitText(t, "Thank you. Your submission was received and encrypted.")
	if u := b.url(t); !strings.HasSuffix(u, "/submitted") {
		t.Errorf("acknowledgement at %s, want /submitted", u)
	}
	b.noScript(t)

	// Log out, come back, log in with the codename: no reply yet.
	b.click(t, b.find(t, "xpath", xpButton("Log out")))
	b.waitText(t, "You are logged out")
	b.noScript(t)
	b.click(t, b.find(t, "xpath", xpLink("Back to the start")))
	b.click(t, b.waitFor(t, "xpath", xpLink("I have a codename: log in")))
	b.sendKeys(t, b.waitFor(t, "css selector", "#codename"), codename)
	b.noScript(t)
	b.click(t, b.find(t, "xpath", xpButton("Log in")))
	b.waitText(t, "There are no replies yet.")
	if n := b.count(t, "article.reply"); n != 0 {
		t.Fatalf("inbox shows %d replies before any was sent", n)
	}
	b.noScript(t)

	// The journalist's view: one mail, text, subject and file intact.
	ms, _ := inbox(t, p, in)
	if len(ms) != 1 {
		t.Fatalf("INBOX holds %d readable messages, want 1", len(ms))
	}
	d := ms[0].Dec
	if !strings.Contains(d.Text, line1) || !strings.Contains(d.Text, line2) {
		t.Errorf("decrypted text %q lacks %q or %q", d.Text, line1, line2)
	}
	if !strings.Contains(d.Subject, subject) {
		t.Errorf("decrypted subject %q lacks %q", d.Subject, subject)
	}
	// Besides the upload the relay attaches the source's public key.
	var files []int
	for i, part := range d.Parts {
		if part.ContentType != "application/pgp-keys" {
			files = append(files, i)
		}
	}
	if len(files) != 1 {
		t.Fatalf("submission has %d attachments besides the key, want 1: %+v", len(files), d.Parts)
	}
	if name := d.Parts[files[0]].Name; name != filepath.Base(upload) {
		t.Errorf("attachment named %q, want %q", name, filepath.Base(upload))
	}
	if got := readPart(t, d, files[0]); !bytes.Equal(got, data) {
		t.Errorf("attachment differs: %d bytes, want %d identical bytes", len(got), len(data))
	}

	// The journalist replies; the source reloads the inbox and reads it.
	reply := []string{"Danke — Antwort ✓ MKbrowserReply", "MKbrowserSubj", "MKbrowserName", "MKbrowserFile"}
	replyBySMTP(t, p, in, ms[0], reply)
	deadline := time.Now().Add(waitLimit)
	for b.refresh(t); b.count(t, "article.reply") == 0; b.refresh(t) {
		if time.Now().After(deadline) {
			t.Fatalf("no reply on the inbox page within %v", waitLimit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Values in sentences come wrapped in bidi isolates (FSI … PDI).
	shown := strings.NewReplacer("\u2068", "", "\u2069", "").Replace(b.text(t, b.find(t, "css selector", "article.reply")))
	for _, want := range []string{reply[0], "Re: " + reply[1], "Download " + reply[2] + ".txt"} {
		if !strings.Contains(shown, want) {
			t.Errorf("the reply on the page lacks %q:\n%s", want, shown)
		}
	}
	b.noScript(t)
	b.screenshot(t, filepath.Join(shots, "reply.png"))

	// The reply's attachment downloads through its plain link.
	b.click(t, b.find(t, "xpath", `//article[@class="reply"]//a[@download]`))
	got := filepath.Join(b.downloads, reply[2]+".txt")
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(50 * time.Millisecond) {
		if dl, err := os.ReadFile(got); err == nil {
			if string(dl) != reply[3] {
				t.Errorf("downloaded attachment is %q, want %q", dl, reply[3])
			}
			break
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(b.downloads)
			t.Fatalf("%s not downloaded within %v; the folder holds %v", got, waitLimit, entries)
		}
	}
}

// needChromium skips the test when Chromium or chromedriver is missing, and
// fails it under CI, which installs both.
func needChromium(t *testing.T) {
	t.Helper()
	needPrograms(t, "chromium chromium-driver", chromiumBin, chromedriverBin)
}

// xpButton and xpLink are XPath expressions for a button or a link by its
// visible text (which must hold no double quote).
func xpButton(text string) string { return `//button[normalize-space()="` + text + `"]` }
func xpLink(text string) string   { return `//a[normalize-space()="` + text + `"]` }

// lastBytes is the end of b, at most n bytes.
func lastBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// wdSession is one WebDriver session of headless Chromium with JavaScript
// disabled.
type wdSession struct {
	hc        *http.Client
	session   string // http://127.0.0.1:port/session/ID
	downloads string // the folder downloads land in
}

var driverPortRE = regexp.MustCompile(`started successfully on port (\d+)`)

// startChromium starts chromedriver on a free loopback port (it picks one
// and prints it) in a process group of its own, then a session. Cleanup
// ends the session, then kills the group: chromedriver and every Chromium
// process.
func startChromium(t *testing.T) *wdSession {
	t.Helper()
	return startChromiumScripts(t, false)
}

// startChromiumScripts is startChromium with page scripts allowed when
// scripts is true: only for running axe-core on pages that carry none.
func startChromiumScripts(t *testing.T, scripts bool) *wdSession {
	t.Helper()
	js := 2 // blocked
	if scripts {
		js = 1
	}
	dir := t.TempDir()
	out, err := os.Create(filepath.Join(dir, "chromedriver.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	logPath := filepath.Join(dir, "chromedriver.log")
	cmd := exec.Command(chromedriverBin, "--port=0", "--log-path="+logPath)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if t.Failed() {
			l, _ := os.ReadFile(logPath)
			t.Logf("chromedriver log (tail):\n%s", lastBytes(l, 4000))
		}
	})

	var port string
	for deadline := time.Now().Add(waitLimit); port == ""; {
		b, _ := os.ReadFile(out.Name())
		if m := driverPortRE.FindSubmatch(b); m != nil {
			port = string(m[1])
		} else if time.Now().After(deadline) {
			t.Fatalf("chromedriver did not say its port within %v:\n%s", waitLimit, b)
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}

	downloads := filepath.Join(dir, "downloads")
	// No page runs scripts; the flags keep Chromium from calling home and
	// resolving any name (the relay is an address), and the user agent is
	// Tor Browser's, so the pages look as a source sees them.
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName":      "chrome",
		"pageLoadStrategy": "normal",
		"timeouts":         map[string]int{"pageLoad": int(waitLimit.Milliseconds()), "script": 10000, "implicit": 0},
		"goog:chromeOptions": map[string]any{
			"binary": chromiumBin,
			"args": []string{
				"--headless=new", "--no-sandbox", "--disable-gpu",
				"--user-data-dir=" + filepath.Join(t.TempDir(), "profile"),
				"--window-size=1280,1600",
				"--user-agent=" + sourceclient.TorBrowserUA,
				"--lang=en-US",
				"--disable-component-update", "--disable-domain-reliability", "--no-pings",
				"--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
			},
			"prefs": map[string]any{
				"profile.managed_default_content_settings.javascript": js,
				"intl.accept_languages":                               "en-US,en",
				"download.default_directory":                          downloads,
				"download.prompt_for_download":                        false,
			},
		},
	}}}
	b := &wdSession{hc: &http.Client{Timeout: 2 * waitLimit}, session: "http://127.0.0.1:" + port + "/session", downloads: downloads}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(http.MethodPost, "", caps, &created); err != nil || created.SessionID == "" {
		t.Fatalf("new WebDriver session: %v", err)
	}
	b.session += "/" + created.SessionID
	t.Cleanup(func() {
		if err := b.call(http.MethodDelete, "", nil, nil); err != nil {
			t.Logf("delete WebDriver session: %v", err)
		}
	})
	return b
}

// wdError is an error a WebDriver endpoint answered.
type wdError struct {
	Status  int
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *wdError) Error() string {
	msg, _, _ := strings.Cut(e.Message, "\n")
	return fmt.Sprintf("webdriver %d %s: %s", e.Status, e.Code, msg)
}

// call sends one WebDriver command (path relative to the session) and
// decodes the "value" of the answer into out, if not nil.
func (b *wdSession) call(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		j, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.session+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct{ Value json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("webdriver %s %s: status %d: %v", method, path, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &wdError{Status: resp.StatusCode}
		json.Unmarshal(r.Value, e)
		return e
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(r.Value, out)
}

// must is call that fails t on error.
func (b *wdSession) must(t *testing.T, method, path string, in, out any) {
	t.Helper()
	if err := b.call(method, path, in, out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

func (b *wdSession) navigate(t *testing.T, u string) {
	t.Helper()
	b.must(t, http.MethodPost, "/url", map[string]string{"url": u}, nil)
}

func (b *wdSession) refresh(t *testing.T) {
	t.Helper()
	b.must(t, http.MethodPost, "/refresh", struct{}{}, nil)
}

func (b *wdSession) url(t *testing.T) (u string) {
	t.Helper()
	b.must(t, http.MethodGet, "/url", nil, &u)
	return u
}

func (b *wdSession) title(t *testing.T) (s string) {
	t.Helper()
	b.must(t, http.MethodGet, "/title", nil, &s)
	return s
}

// findErr returns the reference of the first element that using ("css
// selector" or "xpath") and value match.
func (b *wdSession) findErr(using, value string) (string, error) {
	var el map[string]string
	if err := b.call(http.MethodPost, "/element", map[string]string{"using": using, "value": value}, &el); err != nil {
		return "", err
	}
	if el[webElementKey] == "" {
		return "", errors.New("webdriver: no element reference in the answer")
	}
	return el[webElementKey], nil
}

// find is findErr on the page as it is now; no match fails t.
func (b *wdSession) find(t *testing.T, using, value string) string {
	t.Helper()
	el, err := b.findErr(using, value)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", using, value, b.url(t), err)
	}
	return el
}

// waitFor polls until an element matches and is displayed, for at most
// waitLimit.
func (b *wdSession) waitFor(t *testing.T, using, value string) string {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		el, err := b.findErr(using, value)
		if err == nil {
			var shown bool
			if err = b.call(http.MethodGet, "/element/"+el+"/displayed", nil, &shown); err == nil && shown {
				return el
			}
			if err == nil {
				err = errors.New("not displayed")
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s not found within %v on %s: %v", using, value, waitLimit, b.url(t), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitText waits until the main content of the page shows text.
func (b *wdSession) waitText(t *testing.T, text string) {
	t.Helper()
	// The form wraps values in sentences in bidi isolates (FSI … PDI):
	// match the text as a reader sees it, without them.
	b.waitFor(t, "xpath", `//main[contains(translate(normalize-space(), "`+"\u2068\u2069"+`", ""), "`+text+`")]`)
}

// count is how many elements the CSS selector matches now.
func (b *wdSession) count(t *testing.T, css string) int {
	t.Helper()
	var els []map[string]string
	b.must(t, http.MethodPost, "/elements", map[string]string{"using": "css selector", "value": css}, &els)
	return len(els)
}

func (b *wdSession) displayed(t *testing.T, el string) (shown bool) {
	t.Helper()
	b.must(t, http.MethodGet, "/element/"+el+"/displayed", nil, &shown)
	return shown
}

func (b *wdSession) text(t *testing.T, el string) (s string) {
	t.Helper()
	b.must(t, http.MethodGet, "/element/"+el+"/text", nil, &s)
	return s
}

// click clicks el; for a submit button or a link WebDriver waits for the
// next page to load.
func (b *wdSession) click(t *testing.T, el string) {
	t.Helper()
	b.must(t, http.MethodPost, "/element/"+el+"/click", struct{}{}, nil)
}

// sendKeys types s into el; for a file input, s is the file's path.
func (b *wdSession) sendKeys(t *testing.T, el, s string) {
	t.Helper()
	b.must(t, http.MethodPost, "/element/"+el+"/value", map[string]string{"text": s}, nil)
}

// noScript fails t if the current page's HTML holds a script element.
func (b *wdSession) noScript(t *testing.T) {
	t.Helper()
	var src string
	b.must(t, http.MethodGet, "/source", nil, &src)
	if strings.Contains(strings.ToLower(src), "<script") {
		t.Errorf("%s holds a <script> element", b.url(t))
	}
}

// screenshot writes the visible page as a PNG to path.
func (b *wdSession) screenshot(t *testing.T, path string) {
	t.Helper()
	var enc string
	b.must(t, http.MethodGet, "/screenshot", nil, &enc)
	png, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is no PNG (%v)", err)
	}
	if err := os.WriteFile(path, png, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of %s: %s", b.url(t), path)
}
