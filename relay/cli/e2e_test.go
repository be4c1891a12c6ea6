package cli_test

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"postern/relay/demo"
)

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// submitThroughForm plays a source with JavaScript off: a new codename,
// then one message. It checks that the wiring delivers it (the mail in the
// journalist's INBOX is ciphertext, and the plaintext is nowhere in it).
func submitThroughForm(t *testing.T, info demo.Info, secret string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 60 * time.Second}
	base := strings.TrimSuffix(info.IntakeURL, "/")
	get := func(path string) string {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s\n%s", path, resp.Status, b)
		}
		return string(b)
	}
	csrf := func(page string) string {
		t.Helper()
		m := csrfRE.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no csrf token in\n%s", page)
		}
		return m[1]
	}
	resp, err := c.PostForm(base+"/new", url.Values{"csrf": {csrf(get("/"))}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /new: %s", resp.Status)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", csrf(get("/submit")))
	mw.WriteField("message", secret)
	mw.Close()
	resp, err = c.Post(base+"/submit", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Request.URL.Path, "/submitted") {
		t.Fatalf("POST /submit: %s %s\n%s", resp.Status, resp.Request.URL, b)
	}

	mail := fetchFirst(t, info)
	if !strings.Contains(mail, "multipart/encrypted") || !strings.Contains(mail, "-----BEGIN PGP MESSAGE-----") {
		t.Fatalf("INBOX message is not PGP/MIME:\n%s", mail)
	}
	if strings.Contains(mail, secret) {
		t.Fatal("the submission's plaintext is in the mail")
	}
}

// fetchFirst logs in to IMAP as the demo journalist and returns message 1
// of INBOX.
func fetchFirst(t *testing.T, info demo.Info) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", info.IMAPAddr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	tp := textproto.NewConn(conn)
	tp.ReadLine() // greeting
	cmd := func(tag, format string, args ...any) string {
		t.Helper()
		tp.PrintfLine(tag+" "+format, args...)
		var out strings.Builder
		for {
			l, err := tp.ReadLine()
			if err != nil {
				t.Fatalf("%s: %v", tag, err)
			}
			if strings.HasPrefix(l, tag+" ") {
				if !strings.HasPrefix(l, tag+" OK") {
					t.Fatalf("%s: %s", tag, l)
				}
				return out.String()
			}
			fmt.Fprintln(&out, l)
		}
	}
	cmd("a1", `LOGIN demo "%s"`, info.Password)
	if sel := cmd("a2", "SELECT INBOX"); !strings.Contains(sel, "* 1 EXISTS") {
		t.Fatalf("SELECT INBOX:\n%s", sel)
	}
	mail := cmd("a3", "FETCH 1 BODY.PEEK[]")
	cmd("a4", "LOGOUT")
	return mail
}
