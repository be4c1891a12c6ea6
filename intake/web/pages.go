package web

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"time"

	"postern/intake/session"
)

// errNoSession means the request has no live session with a source state.
var errNoSession = errors.New("web: no session")

// withState runs fn with the request's session locked and its state. It
// returns errNoSession when there is none (no cookie, forged, idle, ended).
// fn must be short: every other request of the same session waits.
func (rq *req) withState(fn func(st *state) error) error {
	if rq.sess == nil {
		return errNoSession
	}
	rq.sess.Lock()
	defer rq.sess.Unlock()
	st, ok := rq.sess.Data.(*state)
	if rq.sess.Ended() || !ok || st == nil {
		return errNoSession
	}
	return fn(st)
}

// smallForm reads an urlencoded form of a few fields (never a multipart
// one: that is submitPost's job) and checks its CSRF token. With
// allowForm, a pre-session form token is accepted too ("get a codename",
// "log in"). On failure it has answered the request.
func (s *Server) smallForm(w http.ResponseWriter, rq *req, allowForm bool) bool {
	r := rq.r
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/x-www-form-urlencoded" {
		s.badRequest(w, rq, "")
		return false
	}
	if err := r.ParseForm(); err != nil {
		s.badRequest(w, rq, "")
		return false
	}
	tok := r.PostForm.Get("csrf")
	if rq.sess != nil && rq.sess.CheckCSRF(tok) {
		return true
	}
	if allowForm && s.forms.Check(tok) {
		rq.formTok = tok
		return true
	}
	if !allowForm && rq.sess == nil {
		s.expired(w, rq)
		return false
	}
	s.forbiddenCSRF(w, rq)
	return false
}

// claimForm spends what admitted a "get a codename" or "log in" form just
// before it costs an argon2id derivation: a pre-session token is spent (one
// GET of the landing page feeds one derivation, not a flood), a session's
// own token admits one derivation at a time. A replayed token gets the same
// "this form has expired" page as a forged one. On failure it has answered
// the request; otherwise done must be called.
func (s *Server) claimForm(w http.ResponseWriter, rq *req) (done func(), ok bool) {
	if rq.formTok != "" {
		if !s.forms.Spend(rq.formTok) {
			s.forbiddenCSRF(w, rq)
			return nil, false
		}
		return func() {}, true
	}
	done, ok = rq.sess.TryDerive()
	if !ok {
		s.busy(w, rq)
	}
	return done, ok
}

// startSession replaces any session of the request by a new one holding st,
// remembers the normalised codename for the practice page, and sets the
// cookie. A new token at every login defeats session fixation.
func (s *Server) startSession(w http.ResponseWriter, rq *req, st *state, normalized string) error {
	if rq.explicit {
		st.lang = rq.lang
	}
	s.sessions.End(rq.sess)
	create := s.sessions.Create
	if st.src != nil {
		// A returning source: the table keeps room for it however many
		// fresh codenames a flood asked for.
		create = func(d session.Wiper) (*session.Session, string, error) { return s.sessions.CreateOwned(d, st.src.ID) }
	}
	sess, token, err := create(st)
	if err != nil {
		return err
	}
	sess.Lock()
	sess.RememberSecret([]byte(normalized))
	sess.Unlock()
	rq.sess = sess
	s.setCookie(w, token)
	return nil
}

func (s *Server) redirect(w http.ResponseWriter, rq *req, path string) {
	v := s.view(rq, "", nil)
	http.Redirect(w, rq.r, v.URL(path), http.StatusSeeOther)
}

func (s *Server) landing(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	v := s.view(rq, "", nil)
	v.Heading = rq.t("landing.title", v.Org)
	s.renderView(w, http.StatusOK, "landing", v)
}

func (s *Server) style(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(styleCSS)))
	w.Write(styleCSS)
}

// metadataDoc is /metadata: what a client (or a directory of drop sites)
// needs to know about this instance, nothing about its sources.
type metadataDoc struct {
	Organisation       string   `json:"organisation"`
	Version            string   `json:"version"`
	AllowUploads       bool     `json:"allow_uploads"`
	MaxSubmissionBytes int64    `json:"max_submission_bytes"`
	MaxMessageChars    int      `json:"max_message_chars"`
	Languages          []string `json:"languages"`
	// LanguageNames gives each language's name in itself, for a list a
	// source can read whatever language they speak.
	LanguageNames  map[string]string `json:"language_names"`
	SubmissionKeys []string          `json:"submission_key_fingerprints"`
	// Desks are the desks a source may choose, never a hidden one (desk.go).
	Desks []metaDesk `json:"desks"`
}

func (s *Server) metadata(w http.ResponseWriter, r *http.Request) {
	js, err := s.o.Store.Journalists()
	if err != nil {
		s.fault("metadata: journalists", err)
		s.internal(w, s.newReq(r))
		return
	}
	desks, err := s.o.Store.Desks()
	if err != nil {
		s.fault("metadata: desks", err)
		s.internal(w, s.newReq(r))
		return
	}
	doc := metadataDoc{
		Organisation: s.o.OrgName, Version: s.o.Version, AllowUploads: s.o.AllowUploads,
		MaxSubmissionBytes: s.o.MaxSubmissionBytes, MaxMessageChars: s.o.MaxMessageChars,
		Languages: s.i18n.codes, LanguageNames: map[string]string{}, SubmissionKeys: []string{}, Desks: []metaDesk{},
	}
	for _, l := range s.i18n.langs {
		doc.LanguageNames[l.Code] = l.Name
	}
	now := s.now()
	fprs := map[string]string{} // journalist → published fingerprint
	for _, j := range js {
		if !s.o.PublishKeyFPRs {
			break
		}
		if !j.KeyExpires.IsZero() && !j.KeyExpires.After(now) {
			continue
		}
		fprs[j.Name] = j.Fingerprint
	}
	// Only keys of listed desks: a key of a hidden desk's journalist would
	// tell that the hidden desk exists.
	published := map[string]bool{}
	for _, d := range desks {
		if d.Hidden {
			continue
		}
		md := metaDesk{Slug: d.Slug, Title: d.Title, Description: d.Description}
		for _, name := range d.Journalists {
			if fp, ok := fprs[name]; ok {
				md.Fingerprints = append(md.Fingerprints, fp)
				published[name] = true
			}
		}
		doc.Desks = append(doc.Desks, md)
	}
	for _, j := range js {
		if published[j.Name] {
			doc.SubmissionKeys = append(doc.SubmissionKeys, fprs[j.Name])
		}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		s.internal(w, s.newReq(r))
		return
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

func (s *Server) submitted(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	s.render(w, rq, http.StatusOK, "done", "done.title", nil)
}

// day is t's calendar day in UTC: the only granularity stored about sources.
func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// sessionBusy maps a full session table to the busy page.
func isSessionFull(err error) bool { return errors.Is(err, session.ErrFull) }
