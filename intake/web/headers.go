package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"time"
)

// securityHeaders are sent on every response, errors and the style sheet
// included. The policy allows exactly what the pages use: one style sheet
// from 'self' and forms posting to 'self'. There is no script source at all.
var securityHeaders = [][2]string{
	{"Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
	{"X-Frame-Options", "DENY"},
	{"Cache-Control", "no-store"},
	{"Pragma", "no-cache"},
	{"Referrer-Policy", "no-referrer"},
	{"X-Content-Type-Options", "nosniff"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"Cross-Origin-Embedder-Policy", "require-corp"},
	{"Cross-Origin-Resource-Policy", "same-origin"},
	{"Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"},
}

// Deadlines per request. The server sets no ReadTimeout (it would cut a
// 500 MiB upload on a slow circuit); instead every request gets a read
// deadline here, and the upload handler replaces it with an idle deadline
// that moves forward with each read (see idleReader).
const (
	requestReadTimeout  = time.Minute
	requestWriteTimeout = 10 * time.Minute
	uploadIdleTimeout   = 2 * time.Minute
)

// wrap is the outermost handler: headers, deadlines, panic recovery, and
// the cross-origin check. It logs nothing about the request: no access log.
//
// It also removes the Date header net/http adds to every response: the
// server's clock to the second on every page is a clock-skew fingerprint of
// the onion's host, and nothing a browser needs (caching is off). A nil value
// under the key is net/http's documented way to suppress it; every response
// passes here, errors, redirects, the busy page and the style sheet included.
// (The bare 503 of the connection cap, relay/wire, and net/http's own 400s
// for unreadable requests are written without a Date.)
func (s *Server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Date"] = nil
		for _, kv := range securityHeaders {
			h.Set(kv[0], kv[1])
		}
		rc := http.NewResponseController(w)
		now := time.Now()
		// Errors mean the connection cannot take deadlines (HTTP/2 in some
		// tests); the server's own timeouts still apply then.
		_ = rc.SetReadDeadline(now.Add(requestReadTimeout))
		_ = rc.SetWriteDeadline(now.Add(requestWriteTimeout))
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			// The class of the error only: a panic value may quote input.
			s.fault("panic recovered ("+panicClass(v)+")", nil)
			s.internal(w, s.newReq(r))
		}()
		if !safeMethod(r.Method) && !sameOrigin(r) {
			s.forbiddenCSRF(w, s.newReq(r))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin refuses a browser's cross-site POST before any token is looked
// at: the per-form tokens cannot stop login CSRF (an attacker can fetch a
// valid pre-session token), this can. It is net/http's
// CrossOriginProtection with one difference: "Origin: null" is accepted.
// Our own pages send Referrer-Policy: no-referrer, and under that policy
// the Fetch standard makes browsers send "Origin: null" on every form POST;
// a browser that does not send Sec-Fetch-Site (plain http on a LAN
// address, say) would otherwise be locked out. Tor Browser treats onions as
// secure contexts and sends Sec-Fetch-Site, which decides first.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && u.Host == r.Host
}

func panicClass(v any) string {
	if err, ok := v.(error); ok {
		var rt interface{ RuntimeError() }
		if errors.As(err, &rt) {
			return "runtime error"
		}
	}
	return fmt.Sprintf("%T", v)
}

// torBrowserUA matches what Tor Browser sends on every platform: it reports
// Firefox ESR on Windows (Android reports "Android 10; Mobile") whatever the
// real system, so that all its users look alike. The check is a heuristic
// that only decides whether to show a gentle notice; the user agent is never
// logged or stored.
var torBrowserUA = regexp.MustCompile(`^Mozilla/5\.0 \((?:Windows NT 10\.0|Android 10; Mobile); rv:(\d{2,3})\.0\) Gecko/(?:20100101|\d{2,3}\.0) Firefox/(\d{2,3})\.0$`)

func looksLikeTorBrowser(ua string) bool {
	m := torBrowserUA.FindStringSubmatch(ua)
	if m == nil || m[1] != m[2] {
		return false
	}
	// Tor Browser follows Firefox ESR releases only.
	switch m[1] {
	case "102", "115", "128", "140", "153":
		return true
	}
	return false
}
