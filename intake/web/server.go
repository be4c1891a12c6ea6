// Package web is the source-facing onion web form: the pages, the session
// cookie, and the streaming upload into the mailbox's delivery.
//
// Everything here assumes the worst client conditions the design names: Tor
// Browser at "Safest" (no JavaScript), a slow and flaky circuit, a source in
// danger who must not leave traces. So pages are plain HTML forms, every
// word goes through the message catalogue, uploads are streamed and never
// buffered, and nothing identifying (codename, subject, file name, address,
// user agent) reaches a log or a disk in the clear.
package web

import (
	"errors"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"time"

	"postern/intake/session"
	"postern/mailbox/kdf"
	"postern/mailbox/store"
	"postern/mailbox/tally"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxSubmissionBytes = 500 << 20
	DefaultMaxMessageChars    = 100_000
	DefaultSessionIdle        = 120 * time.Minute
	// MaxSubjectChars bounds the optional subject (a single line).
	MaxSubjectChars = 200
	// MaxFiles bounds the files in one submission: each costs a MIME part
	// and a header in the journalist's mail.
	MaxFiles = 100
)

// cookieName names the one cookie. It is deliberately bland.
const cookieName = "s"

// Options is everything the relay hands the form. The relay builds it; this
// package reads no configuration of its own.
type Options struct {
	Store     *store.Store
	Pool      *kdf.Pool
	Deliverer Deliverer
	// Tally counts failures. The form has no logger: every event in it is a
	// source's request, and a log line would carry its time to the second
	// (mailbox/tally). The relay reports the counts daily and in status.
	Tally *tally.Tally
	// FreeBytes reports the space left in the data directory's file system
	// (default: the file system's statistics). Tests simulate a full disk.
	FreeBytes func(dir string) (uint64, error)

	Domain  string // mail domain of source addresses, e.g. "postern.local"
	OrgName string // shown on every page and in /metadata
	// Newsroom gives, per language tag, the newsroom's name in that
	// language (instead of OrgName) and an intro paragraph for the landing
	// page; both optional (ParseNewsroom reads the admin's file).
	Newsroom map[string]NewsroomText

	MaxSubmissionBytes int64         // total upload; default DefaultMaxSubmissionBytes
	MaxMessageChars    int           // message text; default DefaultMaxMessageChars
	SessionIdle        time.Duration // default DefaultSessionIdle
	MaxSessions        int           // live sessions; default session.DefaultMax
	// MaxUploads bounds submissions in flight at once (each holds a
	// connection, a temp blob and up to MaxSubmissionBytes); beyond it a
	// source gets the busy page. Default DefaultMaxUploads.
	MaxUploads int
	// MaxUploadsPerSession bounds the submissions one session has in flight
	// (two tabs), so one source cannot take every upload slot. Default
	// DefaultMaxUploadsPerSession.
	MaxUploadsPerSession int
	// UploadMinRate and UploadGrace drop an upload whose average rate, from
	// its start, is below UploadMinRate bytes a second once UploadGrace has
	// passed: it frees its slot and stores nothing. Tor is slow, but not a
	// byte a minute. Defaults DefaultUploadMinRate, DefaultUploadGrace;
	// a negative UploadMinRate turns the floor off.
	UploadMinRate int64
	UploadGrace   time.Duration

	KDF  kdf.Params // codename → identity cost
	Salt []byte     // the instance salt (store.Salt())

	Version      string // shown in /metadata
	AllowUploads bool
	// PublishKeyFPRs lists the journalists' key fingerprints in /metadata.
	PublishKeyFPRs bool
	// Languages are the base codes of the languages offered, the first being
	// the default; empty offers every translation.
	Languages []string
	// Demo marks an instance served without Tor (relay demo): every page
	// says loudly that it is not anonymous.
	Demo bool
	Now  func() time.Time
	// Manifest returns the newsroom's signed manifest as last published
	// (relay manifest publish), if any: served at /manifest.asc and
	// explained at /verify (verify.go).
	Manifest func() (Manifest, bool)
}

// Server is the web form. Build it with New; it is safe for concurrent use.
type Server struct {
	o        Options
	now      func() time.Time
	i18n     *i18n
	tmpl     map[string]*template.Template
	sessions *session.Store
	forms    *session.Forms
	handler  http.Handler
	uploads  chan struct{} // one token per submission in flight
	flights  flights       // the uploads reading their body (contest.go)
}

// New checks o and builds the server.
func New(o Options) (*Server, error) {
	if o.Store == nil || o.Pool == nil || o.Deliverer == nil {
		return nil, errors.New("web: Store, Pool and Deliverer are required")
	}
	if o.Domain == "" || o.OrgName == "" {
		return nil, errors.New("web: Domain and OrgName are required")
	}
	if len(o.Salt) == 0 {
		return nil, errors.New("web: Salt is required")
	}
	if err := o.KDF.Validate(); err != nil {
		return nil, fmt.Errorf("web: KDF params: %w", err)
	}
	if o.FreeBytes == nil {
		o.FreeBytes = freeBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxSubmissionBytes <= 0 {
		o.MaxSubmissionBytes = DefaultMaxSubmissionBytes
	}
	if o.MaxMessageChars <= 0 {
		o.MaxMessageChars = DefaultMaxMessageChars
	}
	if o.MaxUploads <= 0 {
		o.MaxUploads = DefaultMaxUploads
	}
	if o.MaxUploadsPerSession <= 0 {
		o.MaxUploadsPerSession = DefaultMaxUploadsPerSession
	}
	if o.UploadMinRate == 0 {
		o.UploadMinRate = DefaultUploadMinRate
	}
	if o.UploadGrace <= 0 {
		o.UploadGrace = DefaultUploadGrace
	}
	if o.SessionIdle <= 0 {
		o.SessionIdle = DefaultSessionIdle
	}
	in, err := newI18n(o.Languages)
	if err != nil {
		return nil, err
	}
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	s := &Server{
		o: o, now: o.Now, i18n: in, tmpl: tmpl,
		uploads:  make(chan struct{}, o.MaxUploads),
		sessions: session.New(session.Options{Idle: o.SessionIdle, Max: o.MaxSessions, Now: o.Now}),
		// A form token lives as long as an idle session would: a source may
		// read the landing page for a while before pressing the button.
		forms: session.NewForms(o.SessionIdle, o.Now),
	}
	s.handler = s.wrap(s.routes())
	return s, nil
}

// Handler is the form's whole HTTP surface.
func (s *Server) Handler() http.Handler { return s.handler }

// HTTPServer returns an http.Server for the form on addr (loopback: Tor
// connects to it). There is no ReadTimeout: it counts from the first byte
// to the end of the body and would cut a 500 MiB upload over a slow
// circuit. Instead each request gets a read deadline from the middleware,
// and an upload gets an idle deadline that moves with every read, so a
// stalled client is dropped after uploadIdleTimeout (or sooner, once its
// average rate is below UploadMinRate after UploadGrace) while a slow steady one
// finishes. Headers must arrive within ReadHeaderTimeout.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       30 * time.Second, // keep-alive: a visitor's idle connection costs memory
		MaxHeaderBytes:    32 << 10,
		// net/http reports accept errors and broken requests here, per
		// connection: they are counted, never logged.
		ErrorLog: log.New(tallyWriter{s}, "", 0),
	}
}

// Sweep ends idle sessions now (wiping their keys); the relay may call it
// from a ticker. Sessions are also swept lazily.
func (s *Server) Sweep() { s.sessions.Sweep() }

// route registers a path whose methods are dispatched here, so a wrong
// method gets our page rather than the mux's plain-text 405.
func (s *Server) route(mux *http.ServeMux, path string, methods map[string]http.HandlerFunc) {
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		m := r.Method
		if m == http.MethodHead {
			m = http.MethodGet
		}
		h, ok := methods[m]
		if !ok {
			rq := s.newReq(r)
			w.Header().Set("Allow", allowed(methods))
			s.problem(w, rq, http.StatusMethodNotAllowed, "error.bad.title", rq.t("error.method.text"))
			return
		}
		h(w, r)
	})
}

func allowed(methods map[string]http.HandlerFunc) string {
	out := ""
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		if _, ok := methods[m]; ok {
			if out != "" {
				out += ", "
			}
			out += m
		}
	}
	return out
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	get := http.MethodGet
	post := http.MethodPost
	s.route(mux, "/{$}", map[string]http.HandlerFunc{get: s.landing})
	s.route(mux, "/static/style.css", map[string]http.HandlerFunc{get: s.style})
	s.route(mux, "/metadata", map[string]http.HandlerFunc{get: s.metadata})
	s.route(mux, "/manifest.asc", map[string]http.HandlerFunc{get: s.manifestAsc})
	s.route(mux, "/verify", map[string]http.HandlerFunc{get: s.verify})
	s.route(mux, "/new", map[string]http.HandlerFunc{get: s.newGet, post: s.newPost})
	s.route(mux, "/d/{slug}", map[string]http.HandlerFunc{get: s.deskLink})
	s.route(mux, "/practice", map[string]http.HandlerFunc{get: s.practiceGet, post: s.practicePost})
	s.route(mux, "/login", map[string]http.HandlerFunc{get: s.loginGet, post: s.loginPost})
	s.route(mux, "/logout", map[string]http.HandlerFunc{post: s.logout})
	s.route(mux, "/submit", map[string]http.HandlerFunc{get: s.submitGet, post: s.submitPost})
	s.route(mux, "/submitted", map[string]http.HandlerFunc{get: s.submitted})
	s.route(mux, "/inbox", map[string]http.HandlerFunc{get: s.inbox})
	s.route(mux, "/inbox/delete", map[string]http.HandlerFunc{post: s.deleteReply})
	s.route(mux, "/inbox/delete-all", map[string]http.HandlerFunc{get: s.deleteAllGet, post: s.deleteAllReplies})
	s.route(mux, "/inbox/file/{reply}/{part}", map[string]http.HandlerFunc{get: s.download})
	s.route(mux, "/account/delete", map[string]http.HandlerFunc{get: s.deleteAccountGet, post: s.deleteAccountPost})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { s.notFound(w, s.newReq(r)) })
	return mux
}

// setCookie hands the browser its session token. HttpOnly and
// SameSite=Strict; no Secure flag because the onion is plain HTTP (Tor
// encrypts it end to end) and Tor Browser would then drop the cookie; no
// expiry, so it dies with the browser.
func (s *Server) setCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: token, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

func (s *Server) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

// fault counts a failure on a request path (mailbox/tally). kind is a
// constant of the caller's; err's text is kept as the last error, so it must
// never quote input (errors from the store, the pool and delivery do not).
func (s *Server) fault(kind string, err error) { s.o.Tally.Add("intake: "+kind, err) }

// tallyWriter takes net/http's error log: one count per line, the text
// dropped (it carries the peer's address).
type tallyWriter struct{ s *Server }

func (t tallyWriter) Write(p []byte) (int, error) {
	t.s.fault("HTTP server error", nil)
	return len(p), nil
}
