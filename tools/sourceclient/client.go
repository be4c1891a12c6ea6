// Package sourceclient drives the intake web form the way a source's Tor
// Browser does (cookies, CSRF tokens, multipart uploads streamed from readers),
// for end-to-end tests, load generators and benchmarks. It is not part of the
// relay.
package sourceclient

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
)

// TorBrowserUA is the user agent Tor Browser sends, so the form shows no
// "this does not look like Tor Browser" notice.
const TorBrowserUA = "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0"

// Client is one source's browser.
type Client struct {
	base string
	hc   *http.Client
}

// New returns a client of the form at base ("http://host:port"). dial, if not
// nil, makes every connection (a SOCKS dialer for an onion).
func New(base string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *Client {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{DisableCompression: true}
	if dial != nil {
		tr.DialContext = dial
	}
	return &Client{base: strings.TrimSuffix(base, "/"), hc: &http.Client{Jar: jar, Transport: tr}}
}

// Page is a response with its body read.
type Page struct {
	Status int
	URL    string
	Header http.Header
	Body   string
}

var (
	csrfRE     = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	codenameRE = regexp.MustCompile(`aria-labelledby="codename-label"[^>]*><strong>([^<]+)</strong>`)
)

// Get fetches a page.
func (c *Client) Get(ctx context.Context, path string) (Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return Page{}, err
	}
	return c.do(req)
}

// Post sends a urlencoded form.
func (c *Client) Post(ctx context.Context, path string, v url.Values) (Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, strings.NewReader(v.Encode()))
	if err != nil {
		return Page{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

func (c *Client) do(req *http.Request) (Page, error) {
	req.Header.Set("User-Agent", TorBrowserUA)
	resp, err := c.hc.Do(req)
	if err != nil {
		return Page{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Page{}, err
	}
	return Page{Status: resp.StatusCode, URL: resp.Request.URL.String(), Header: resp.Header, Body: string(b)}, nil
}

// Token returns the CSRF token of the form on path.
func (c *Client) Token(ctx context.Context, path string) (string, error) {
	p, err := c.Get(ctx, path)
	if err != nil {
		return "", err
	}
	m := csrfRE.FindStringSubmatch(p.Body)
	if m == nil {
		return "", fmt.Errorf("sourceclient: no form on %s (status %d)", path, p.Status)
	}
	return m[1], nil
}

// NewCodename presses "I am new" and returns the codename shown.
func (c *Client) NewCodename(ctx context.Context) (string, error) {
	tok, err := c.Token(ctx, "/")
	if err != nil {
		return "", err
	}
	p, err := c.Post(ctx, "/new", url.Values{"csrf": {tok}})
	if err != nil {
		return "", err
	}
	m := codenameRE.FindStringSubmatch(p.Body)
	if p.Status != http.StatusOK || m == nil {
		return "", fmt.Errorf("sourceclient: new codename: status %d", p.Status)
	}
	return html.UnescapeString(m[1]), nil
}

// Login logs in with a codename.
func (c *Client) Login(ctx context.Context, codename string) error {
	tok, err := c.Token(ctx, "/login")
	if err != nil {
		return err
	}
	p, err := c.Post(ctx, "/login", url.Values{"csrf": {tok}, "codename": {codename}})
	if err != nil {
		return err
	}
	if !strings.Contains(p.URL, "/inbox") && !strings.Contains(p.URL, "/submit") {
		return fmt.Errorf("sourceclient: login refused (status %d)", p.Status)
	}
	return nil
}

// Logout ends the session.
func (c *Client) Logout(ctx context.Context) error {
	tok, err := c.Token(ctx, "/inbox")
	if err != nil {
		return err
	}
	_, err = c.Post(ctx, "/logout", url.Values{"csrf": {tok}})
	return err
}

// File is an upload streamed from R.
type File struct {
	Name string
	R    io.Reader
}

// ErrRefused is a submission the form did not confirm.
var ErrRefused = errors.New("sourceclient: submission not confirmed")

// Submit sends a message and files, streaming them, and returns nil only once
// the form confirms receipt.
func (c *Client) Submit(ctx context.Context, subject, message string, files ...File) error {
	tok, err := c.Token(ctx, "/submit")
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			for _, f := range [][2]string{{"csrf", tok}, {"subject", subject}, {"message", message}} {
				if err := mw.WriteField(f[0], f[1]); err != nil {
					return err
				}
			}
			for _, f := range files {
				h := textproto.MIMEHeader{}
				h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, f.Name))
				h.Set("Content-Type", "application/octet-stream")
				w, err := mw.CreatePart(h)
				if err != nil {
					return err
				}
				if _, err := io.Copy(w, f.R); err != nil {
					return err
				}
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/submit", pr)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	p, err := c.do(req)
	if err != nil {
		return err
	}
	if !strings.Contains(p.URL, "/submitted") {
		return fmt.Errorf("%w (status %d)", ErrRefused, p.Status)
	}
	return nil
}

// Inbox returns the codename inbox page.
func (c *Client) Inbox(ctx context.Context) (Page, error) {
	return c.Get(ctx, "/inbox")
}
