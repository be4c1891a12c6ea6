package web

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"postern/mailbox/store"
)

// Desks, as a source meets them. A source's first submission picks its
// desk, and the codename keeps it (the source record holds it): with more
// than one listed desk the form asks, with a plain radio list and nothing
// chosen in advance; a per-desk link /d/SLUG chooses it beforehand, and is
// the only way to a hidden desk. A desk is listed when it is not hidden and
// has a journalist: a desk nobody reads is never offered, and reaching one
// by its link gives a clear "not available" page.

// Errors of a desk choice. Nothing is stored after any of them.
var (
	errDeskRequired = errors.New("web: no desk chosen")
	errDeskForged   = errors.New("web: desk not offered")
	errDeskClosed   = errors.New("web: desk without journalist")
)

// deskOption is one desk in the form's list.
type deskOption struct{ Slug, Title, Description string }

// listedDesks are the desks the form offers, sorted by title.
func (s *Server) listedDesks() ([]deskOption, error) {
	desks, err := s.o.Store.Desks()
	if err != nil {
		return nil, err
	}
	var out []deskOption
	for _, d := range desks {
		if !d.Hidden && len(d.Journalists) > 0 {
			out = append(out, deskOption{d.Slug, d.Title, d.Description})
		}
	}
	slices.SortFunc(out, func(a, b deskOption) int { return strings.Compare(a.Title, b.Title) })
	return out, nil
}

// openDesk checks that a desk exists (errDeskForged) and has a journalist
// (errDeskClosed).
func (s *Server) openDesk(slug string) (store.Desk, error) {
	if store.ValidSlug(slug) != nil {
		return store.Desk{}, errDeskForged
	}
	d, err := s.o.Store.Desk(slug)
	if errors.Is(err, store.ErrNotFound) {
		return store.Desk{}, errDeskForged
	}
	if err != nil {
		return store.Desk{}, err
	}
	if len(d.Journalists) == 0 {
		return d, errDeskClosed
	}
	return d, nil
}

// chooseDesk resolves the desk of a first submission from the session's
// per-desk link (preset) and the form's choice. The choice must be one the
// form offered; a value the form could not have sent is errDeskForged.
func (s *Server) chooseDesk(preset, chosen string) (string, error) {
	if preset != "" {
		if chosen != "" && chosen != preset {
			return "", errDeskForged
		}
		_, err := s.openDesk(preset)
		return preset, err
	}
	listed, err := s.listedDesks()
	if err != nil {
		return "", err
	}
	if chosen == "" {
		switch len(listed) {
		case 0:
			if one, err := s.soleDesk(); one != "" || err != nil {
				return one, err // fails at delivery, as before desks
			}
			return "", errDeskClosed
		case 1:
			return listed[0].Slug, nil
		}
		return "", errDeskRequired
	}
	if !slices.ContainsFunc(listed, func(d deskOption) bool { return d.Slug == chosen }) {
		// A listed desk that lost its last journalist since the form was
		// shown gets the clear page; anything else was never offered.
		if d, err := s.openDesk(chosen); errors.Is(err, errDeskClosed) && !d.Hidden {
			return "", errDeskClosed
		}
		return "", errDeskForged
	}
	return chosen, nil
}

// soleDesk is the slug of the instance's only desk, or "" when it has several.
func (s *Server) soleDesk() (string, error) {
	desks, err := s.o.Store.Desks()
	if err != nil || len(desks) != 1 {
		return "", err
	}
	return desks[0].Slug, nil
}

// severalDesks reports whether the instance has more than one desk: only
// then does a source meet desks at all.
func (s *Server) severalDesks() bool {
	one, err := s.soleDesk()
	return one == "" && err == nil
}

// deskForm is what the submit page shows about desks: the choice, or the
// desk already written to when the instance has several.
func (s *Server) deskForm(rq *req) (choices []deskOption, to string, err error) {
	var preset string
	var srcID []byte
	if err := rq.withState(func(st *state) error {
		preset = st.desk
		if st.src != nil {
			srcID = append([]byte(nil), st.src.ID...)
		}
		return nil
	}); err != nil {
		return nil, "", err
	}
	if srcID == nil && preset == "" {
		listed, err := s.listedDesks()
		if err != nil || len(listed) > 1 {
			return listed, "", err
		}
		return nil, "", nil
	}
	to, err = s.deskTitle(srcID, preset)
	return nil, to, err
}

// deskTitle is the title of the desk a source writes to (read from the
// store: an admin may have moved it), or of its preset; "" when the
// instance has only one desk, so a newsroom without desks reads as before.
func (s *Server) deskTitle(srcID []byte, preset string) (string, error) {
	desks, err := s.o.Store.Desks()
	if err != nil || len(desks) < 2 {
		return "", err
	}
	slug := preset
	if srcID != nil {
		src, err := s.o.Store.Source(srcID)
		if err != nil {
			return "", err
		}
		slug = src.Desk
	}
	for _, d := range desks {
		if d.Slug == slug {
			return d.Title, nil
		}
	}
	return "", nil
}

// landingPage is the data of the landing page reached by a desk's link.
type landingPage struct{ DeskSlug, DeskTitle string }

// deskLink is /d/SLUG: the landing page with the desk chosen. "Get a
// codename" carries the desk into the session; a session that has a
// codename but no submission yet takes it at once.
func (s *Server) deskLink(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	d, err := s.openDesk(r.PathValue("slug"))
	switch {
	case errors.Is(err, errDeskForged):
		s.problem(w, rq, http.StatusNotFound, "error.notfound.title", rq.t("desk.unknown.text"))
		return
	case errors.Is(err, errDeskClosed):
		s.deskProblem(w, rq, err)
		return
	case err != nil:
		s.fault("desk link", err)
		s.internal(w, rq)
		return
	}
	_ = rq.withState(func(st *state) error {
		if st.src == nil {
			st.desk = d.Slug
		}
		return nil
	})
	v := s.view(rq, rq.t("landing.title", s.o.OrgName), landingPage{DeskSlug: d.Slug, DeskTitle: d.Title})
	s.renderView(w, http.StatusOK, "landing", v)
}

// deskProblem answers a refused desk choice; it reports whether err was one.
func (s *Server) deskProblem(w http.ResponseWriter, rq *req, err error) bool {
	switch {
	case errors.Is(err, errDeskRequired):
		s.badRequest(w, rq, rq.t("desk.required.text"))
	case errors.Is(err, errDeskForged):
		s.badRequest(w, rq, rq.t("desk.unknown.text"))
	case errors.Is(err, errDeskClosed):
		s.problem(w, rq, http.StatusServiceUnavailable, "desk.closed.title", rq.t("desk.closed.text"))
	default:
		return false
	}
	return true
}

// metaDesk is a desk in /metadata: the listed desks only, never a hidden one.
type metaDesk struct {
	Slug         string   `json:"slug"`
	Title        string   `json:"title"`
	Description  string   `json:"description"`
	Fingerprints []string `json:"key_fingerprints,omitempty"`
}
