package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"postern/intake/codename"
	"postern/mailbox/kdf"
)

// maxCodenameInput bounds what a codename field may hold before it is even
// normalised: seven of the longest EFF words with generous spacing.
const maxCodenameInput = 300

// newPage is the data of the new-codename page.
type newPage struct {
	Codename string // shown once, in the POST response only
	Used     bool   // the source already exists: no "get another"
	Replaced bool   // an unused codename of this session was replaced
}

// newPost makes a codename, derives its identity at once (so a flood of
// requests meets the bounded KDF pool, and the session never needs the
// codename again), and shows it once. The account itself is created only at
// the first submission: a codename that is replaced or abandoned leaves no
// record, and "get another" needs no deletion.
func (s *Server) newPost(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	if !s.smallForm(w, rq, true) {
		return
	}
	done, ok := s.claimForm(w, rq)
	if !ok {
		return
	}
	defer done()
	replaced := false
	desk := r.PostForm.Get("desk") // from a desk's link (/d/SLUG)
	_ = rq.withState(func(st *state) error {
		replaced = st.src == nil
		if desk == "" && replaced {
			desk = st.desk // "get another" keeps the link's desk
		}
		return nil
	})
	if desk != "" {
		if _, err := s.openDesk(desk); s.deskProblem(w, rq, err) {
			return
		} else if err != nil {
			s.fault("new codename: desk", err)
			s.internal(w, rq)
			return
		}
	}
	cn, err := codename.New()
	if err != nil {
		s.fault("new codename", err)
		s.internal(w, rq)
		return
	}
	norm, err := codename.Normalize(cn)
	if err != nil {
		s.fault("normalise new codename", err)
		s.internal(w, rq)
		return
	}
	id, err := codename.Derive(r.Context(), s.o.Pool, norm, s.o.Salt, s.o.KDF)
	if err != nil {
		s.kdfFailed(w, rq, err)
		return
	}
	if err := s.startSession(w, rq, &state{lang: -1, id: id, desk: desk}, norm); err != nil {
		s.sessionFailed(w, rq, err)
		return
	}
	s.render(w, rq, http.StatusOK, "new", "new.title", newPage{Codename: cn, Replaced: replaced})
}

// newGet is reached by reloading or going back: the codename is not shown
// again (it is not kept), but the choices are.
func (s *Server) newGet(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	var p newPage
	if err := rq.withState(func(st *state) error { p.Used = st.src != nil; return nil }); err != nil {
		s.redirect(w, rq, "/")
		return
	}
	s.render(w, rq, http.StatusOK, "new", "new.title", p)
}

// practicePage is the data of the practice page.
type practicePage struct {
	Checked, Match, Used bool
	Problem              string // what is wrong with what was typed, translated
}

func (s *Server) practiceGet(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	var p practicePage
	if err := rq.withState(func(st *state) error { p.Used = st.src != nil; return nil }); err != nil {
		v := s.view(rq, rq.t("practice.title"), nil)
		v.D = messagePage{
			Paras: []string{rq.t("practice.nosession")},
			Links: []link{{v.URL("/login"), rq.t("login.title")}, {v.URL("/"), rq.t("error.back")}},
		}
		s.renderView(w, http.StatusOK, "message", v)
		return
	}
	s.render(w, rq, http.StatusOK, "practice", "practice.title", p)
}

// practicePost compares a retyped codename with the keyed hash the session
// remembers. No KDF, no store access, no login: it only answers "right" or
// "not right".
func (s *Server) practicePost(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	if !s.smallForm(w, rq, false) {
		return
	}
	input := r.PostForm.Get("codename")
	p := practicePage{Checked: true}
	err := rq.withState(func(st *state) error {
		p.Used = st.src != nil
		if len(input) > maxCodenameInput {
			return nil
		}
		norm, err := codename.Normalize(input)
		if err != nil {
			p.Problem = codenameProblem(rq, err)
			return nil
		}
		p.Match = rq.sess.SecretMatches([]byte(norm))
		return nil
	})
	if err != nil {
		s.expired(w, rq)
		return
	}
	s.render(w, rq, http.StatusOK, "practice", "practice.title", p)
}

// loginPage is the data of the login page: Problem is the text of what
// went wrong, already translated.
type loginPage struct{ Problem string }

// codenameProblem says what is wrong with a typed codename that is not one:
// which word is not on the list, or how many words there are. The list is
// public, so this tells nothing about whether any codename exists.
func codenameProblem(rq *req, err error) string {
	var we *codename.WordError
	var ce *codename.CountError
	switch {
	case errors.As(err, &we):
		return rq.t(fmt.Sprintf("login.word.%d", we.Position))
	case errors.As(err, &ce) && ce.Words > 0:
		return rq.t("login.count", ce.Words)
	}
	return rq.t("login.invalid")
}

func (s *Server) loginGet(w http.ResponseWriter, r *http.Request) {
	s.render(w, s.newReq(r), http.StatusOK, "login", "login.title", loginPage{})
}

func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	if !s.smallForm(w, rq, true) {
		return
	}
	input := r.PostForm.Get("codename")
	if len(input) > maxCodenameInput {
		s.render(w, rq, http.StatusBadRequest, "login", "login.title", loginPage{rq.t("login.invalid")})
		return
	}
	// The word list is public, so saying "not a codename" early reveals
	// nothing about any account; a well-formed codename always costs a KDF.
	norm, err := codename.Normalize(input)
	if err != nil {
		s.render(w, rq, http.StatusBadRequest, "login", "login.title", loginPage{codenameProblem(rq, err)})
		return
	}
	done, ok := s.claimForm(w, rq)
	if !ok {
		return
	}
	defer done()
	st, err := s.login(r.Context(), norm)
	switch {
	case errors.Is(err, errUnknown):
		s.render(w, rq, http.StatusForbidden, "login", "login.title", loginPage{rq.t("login.unknown")})
		return
	case err != nil:
		s.kdfFailed(w, rq, err)
		return
	}
	if err := s.o.Store.TouchSource(st.src.ID); err != nil {
		s.fault("touch source", err)
	}
	if err := s.startSession(w, rq, st, norm); err != nil {
		s.sessionFailed(w, rq, err)
		return
	}
	s.redirect(w, rq, "/inbox")
}

// logout ends the session and wipes the derived keys. Without a session
// there is nothing to end, and the same page is shown.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	if rq.sess != nil {
		if !s.smallForm(w, rq, false) {
			return
		}
		s.sessions.End(rq.sess)
		rq.sess = nil
	}
	s.clearCookie(w)
	v := s.view(rq, rq.t("logout.title"), nil)
	v.D = messagePage{
		Paras: []string{rq.t("logout.text")},
		Links: []link{{v.URL("/"), rq.t("logout.back")}},
	}
	s.renderView(w, http.StatusOK, "message", v)
}

func (s *Server) deleteAccountGet(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	if err := rq.withState(func(*state) error { return nil }); err != nil {
		s.expired(w, rq)
		return
	}
	s.render(w, rq, http.StatusOK, "confirm", "account.title",
		confirmPage{Warning: "account.warning", Action: "/account/delete", Confirm: "account.confirm"})
}

// confirmPage is the second page a destructive action asks for (deleting
// every reply, or the account): a plain form, no JavaScript. The fields
// are message keys and the form's path.
type confirmPage struct{ Warning, Action, Confirm string }

// deleteAllGet asks before every reply is deleted.
func (s *Server) deleteAllGet(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	if err := rq.withState(func(*state) error { return nil }); err != nil {
		s.expired(w, rq)
		return
	}
	s.render(w, rq, http.StatusOK, "confirm", "deleteall.title",
		confirmPage{Warning: "deleteall.warning", Action: "/inbox/delete-all", Confirm: "deleteall.confirm"})
}

// deleteAccountPost deletes the source with everything it sent and received
// (the store overwrites and removes the blobs), then ends the session.
func (s *Server) deleteAccountPost(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	if !s.smallForm(w, rq, false) {
		return
	}
	var id []byte
	if err := rq.withState(func(st *state) error {
		if st.src != nil {
			id = append([]byte(nil), st.src.ID...)
		}
		return nil
	}); err != nil {
		s.expired(w, rq)
		return
	}
	text := "account.notused"
	if id != nil {
		if err := s.o.Store.DeleteSource(id); err != nil {
			s.fault("delete source", err)
			s.internal(w, rq)
			return
		}
		text = "account.deleted.text"
	}
	s.sessions.End(rq.sess)
	rq.sess = nil
	s.clearCookie(w)
	v := s.view(rq, rq.t("account.deleted"), nil)
	v.D = messagePage{Paras: []string{rq.t(text)}, Links: []link{{v.URL("/"), rq.t("logout.back")}}}
	s.renderView(w, http.StatusOK, "message", v)
}

// kdfFailed answers a derivation that did not happen: busy pool → busy
// page; a client that went away → nothing; anything else → 500.
func (s *Server) kdfFailed(w http.ResponseWriter, rq *req, err error) {
	switch {
	case errors.Is(err, kdf.ErrBusy):
		// Refused before any derivation: the form's token may be sent
		// again, and a flood answered "busy" does not fill the record of
		// spent tokens (session/forms.go).
		if rq.formTok != "" {
			s.forms.Refund(rq.formTok)
		}
		s.busy(w, rq)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		s.busy(w, rq)
	default:
		s.fault("derive identity", err)
		s.internal(w, rq)
	}
}

func (s *Server) sessionFailed(w http.ResponseWriter, rq *req, err error) {
	if isSessionFull(err) {
		s.busy(w, rq)
		return
	}
	s.fault("start session", err)
	s.internal(w, rq)
}
