package web

import (
	"net/http"
	"strconv"
)

// Manifest is the newsroom's signed statement of what this instance is
// (relay/admin.Manifest), as the relay last published it.
type Manifest struct {
	Signed       []byte // the clearsigned text, served as it is
	Organisation string
	Date         string // YYYY-MM-DD
	Canary       string
	OrgKey       string // fingerprint of the organisation key that signed it
	// Expired: older than the newsroom promised to renew it. Shown as
	// expired, never silently kept: a canary that is not renewed is the
	// message.
	Expired bool
}

func (s *Server) published() (Manifest, bool) {
	if s.o.Manifest == nil {
		return Manifest{}, false
	}
	return s.o.Manifest()
}

// manifestAsc serves the clearsigned manifest.
func (s *Server) manifestAsc(w http.ResponseWriter, r *http.Request) {
	m, ok := s.published()
	if !ok {
		s.notFound(w, s.newReq(r))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(m.Signed)))
	w.Write(m.Signed)
}

// verify tells a source, in their language, how to check the manifest.
// The gpg commands and the manifest's field names stay as they are in
// every language (they are typed or read literally), and are part of the
// text rather than arguments, so no bidi isolate ends up in a command a
// source copies.
func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	v := s.view(rq, rq.t("verify.title"), nil)
	back := link{v.URL("/"), rq.t("error.back")}
	m, ok := s.published()
	if !ok {
		v.D = messagePage{Paras: []string{rq.t("verify.none")}, Links: []link{back}}
		s.renderView(w, http.StatusOK, "message", v)
		return
	}
	paras := []string{
		rq.t("verify.intro"),
		rq.t("verify.step.1", m.OrgKey),
		rq.t("verify.step.2"),
		rq.t("verify.step.3"),
	}
	if m.Canary != "" {
		paras = append(paras, rq.t("verify.canary", m.Date, m.Canary))
	}
	if m.Expired {
		paras = append(paras, rq.t("verify.expired", m.Date))
	} else {
		paras = append(paras, rq.t("verify.dated", m.Date))
	}
	v.D = messagePage{Paras: paras, Links: []link{{"/manifest.asc", rq.t("verify.download")}, back}}
	s.renderView(w, http.StatusOK, "message", v)
}
