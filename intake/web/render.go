package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"

	"postern/intake/session"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/style.css
var styleCSS []byte

// pages are the templates under templates/, each rendered inside layout.html.
var pageNames = []string{"landing", "new", "practice", "submit", "done", "login", "inbox", "confirm", "message"}

func parseTemplates() (map[string]*template.Template, error) {
	base, err := template.New("layout").ParseFS(templateFS, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	out := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// view is what every template sees. Page-specific data is in D.
type view struct {
	pr        printer
	lq        string // "l=xx" when the language was chosen by ?l=, carried on links
	Lang      string // the page's language tag
	Dir       string // "rtl" or "ltr"
	Heading   string
	Org       string // the newsroom's name in the page's language
	Intro     string // the newsroom's own paragraph, plain text; may be empty
	NotTor    bool
	Demo      bool
	LoggedIn  bool
	CSRF      string // the session's token; empty without a session
	FormToken string // a pre-session token for "get a codename" and "log in"
	Languages []langLink
	D         any
}

type langLink struct {
	Code, Name, Href, Dir string
	Current               bool
}

// T translates a message key; the templates never hold words themselves.
func (v *view) T(key string, args ...any) string { return v.pr.Sprintf(key, args...) }

// URL returns a local path that keeps an explicitly chosen language.
func (v *view) URL(path string) string {
	if v.lq == "" {
		return path
	}
	return path + "?" + v.lq
}

// req is the per-request context the handlers share: the language and the
// session (nil when there is none).
type req struct {
	r        *http.Request
	pr       printer
	lang     int
	explicit bool
	sess     *session.Session
	// formTok is the pre-session form token smallForm accepted, still to be
	// spent by claimForm; empty when the session's own token was used.
	formTok string
}

func (s *Server) newReq(r *http.Request) *req {
	idx, explicit := s.i18n.pick(r)
	rq := &req{r: r, lang: idx, explicit: explicit}
	if c, err := r.Cookie(cookieName); err == nil {
		rq.sess = s.sessions.Get(c.Value)
	}
	if !explicit && rq.sess != nil {
		rq.sess.Lock()
		if d, ok := rq.sess.Data.(*state); ok && d.lang >= 0 {
			rq.lang = d.lang
		}
		rq.sess.Unlock()
	}
	rq.pr = s.i18n.printer(rq.lang)
	return rq
}

func (rq *req) t(key string, args ...any) string { return rq.pr.Sprintf(key, args...) }

func (s *Server) view(rq *req, heading string, d any) *view {
	lang := s.i18n.langs[rq.lang]
	v := &view{
		pr:      rq.pr,
		Lang:    lang.Code,
		Dir:     dir(lang),
		Heading: heading,
		Org:     s.org(lang.Code),
		Intro:   s.o.Newsroom[lang.Code].Intro,
		NotTor:  !looksLikeTorBrowser(rq.r.UserAgent()),
		Demo:    s.o.Demo,
		D:       d,
	}
	if rq.explicit {
		v.lq = "l=" + url.QueryEscape(s.i18n.codes[rq.lang])
	}
	if rq.sess != nil {
		rq.sess.Lock()
		if !rq.sess.Ended() {
			v.CSRF = rq.sess.CSRF()
			st, _ := rq.sess.Data.(*state)
			v.LoggedIn = st != nil
		}
		rq.sess.Unlock()
	}
	v.FormToken = s.forms.Token()
	path := "/"
	if rq.r.Method == http.MethodGet && rq.r.URL.Path != "" {
		path = rq.r.URL.Path
	}
	for i, l := range s.i18n.langs {
		v.Languages = append(v.Languages, langLink{
			Code: l.Code, Name: l.Name, Dir: dir(l), Current: i == rq.lang,
			Href: path + "?l=" + url.QueryEscape(l.Code),
		})
	}
	return v
}

// org is the newsroom's name in language code.
func (s *Server) org(code string) string {
	if n := s.o.Newsroom[code].Name; n != "" {
		return n
	}
	return s.o.OrgName
}

func dir(l *Language) string {
	if l.RTL {
		return "rtl"
	}
	return "ltr"
}

// render executes a page into a buffer first, so a template error becomes a
// clean 500 rather than half a page, then writes it with status.
func (s *Server) render(w http.ResponseWriter, rq *req, status int, page, headingKey string, d any) {
	s.renderView(w, status, page, s.view(rq, rq.t(headingKey), d))
}

func (s *Server) renderView(w http.ResponseWriter, status int, page string, v *view) {
	t := s.tmpl[page]
	var buf bytes.Buffer
	if t == nil {
		s.fault("unknown page template", nil)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		s.fault("template "+page+" failed", err) // page names are the code's
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// messagePage is the data of the generic page used for errors, logout and
// deletion: a few paragraphs and a few links.
type messagePage struct {
	Paras []string
	Links []link
}

type link struct{ Href, Label string }

// problem renders a generic page with a title, one paragraph and a way back.
func (s *Server) problem(w http.ResponseWriter, rq *req, status int, titleKey, text string) {
	v := s.view(rq, rq.t(titleKey), nil)
	v.D = messagePage{Paras: []string{text}, Links: []link{{v.URL("/"), rq.t("error.back")}}}
	s.renderView(w, status, "message", v)
}

func (s *Server) notFound(w http.ResponseWriter, rq *req) {
	s.problem(w, rq, http.StatusNotFound, "error.notfound.title", rq.t("error.notfound.text"))
}

func (s *Server) badRequest(w http.ResponseWriter, rq *req, text string) {
	if text == "" {
		text = rq.t("error.bad.text")
	}
	s.problem(w, rq, http.StatusBadRequest, "error.bad.title", text)
}

func (s *Server) forbiddenCSRF(w http.ResponseWriter, rq *req) {
	s.problem(w, rq, http.StatusForbidden, "error.bad.title", rq.t("error.csrf.text"))
}

// busy is the answer to a saturated KDF pool or session table: 503 with a
// Retry-After, so a source on a slow circuit knows waiting helps.
func (s *Server) busy(w http.ResponseWriter, rq *req) {
	w.Header().Set("Retry-After", "60")
	s.problem(w, rq, http.StatusServiceUnavailable, "error.busy.title", rq.t("error.busy.text"))
}

func (s *Server) tooLarge(w http.ResponseWriter, rq *req) {
	s.problem(w, rq, http.StatusRequestEntityTooLarge, "error.toolarge.title",
		rq.t("error.toolarge.text", humanBytes(s.o.MaxSubmissionBytes)))
}

// expired is shown when a page needs a session and the request has none (or
// a forged or idle one). The stale cookie is cleared.
func (s *Server) expired(w http.ResponseWriter, rq *req) {
	s.clearCookie(w)
	v := s.view(rq, rq.t("error.expired.title"), nil)
	v.D = messagePage{
		Paras: []string{rq.t("error.expired.text")},
		Links: []link{{v.URL("/login"), rq.t("login.title")}, {v.URL("/"), rq.t("error.back")}},
	}
	s.renderView(w, http.StatusForbidden, "message", v)
}

func (s *Server) internal(w http.ResponseWriter, rq *req) {
	s.problem(w, rq, http.StatusInternalServerError, "error.internal.title", rq.t("error.internal.text"))
}

// humanBytes prints a size in binary units, the way the limits are set.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %ciB", int64(v), "KMGTPE"[exp])
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[exp])
}
