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

// verify tells a source how to check the manifest. English only for now.
func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	v := s.view(rq, "Check that this site is the newsroom's", nil)
	m, ok := s.published()
	if !ok {
		v.D = messagePage{
			Paras: []string{"This newsroom has not published a signed manifest here yet. Ask it, through its public website, for the address of this site."},
			Links: []link{{v.URL("/"), "Back"}},
		}
		s.renderView(w, http.StatusOK, "message", v)
		return
	}
	paras := []string{
		"The newsroom signs a short statement, the manifest, with its organisation key: it names this site's onion address and the keys your submissions are encrypted to. Check it before you submit anything sensitive.",
		"1. On the newsroom's public website (not on this site), find its organisation key and its fingerprint. Its fingerprint must be " + m.OrgKey + ".",
		"2. Download /manifest.asc from this site and, on a computer you trust, check it with that key: gpg --import org-key.asc, then gpg --verify manifest.asc. gpg must report a good signature by the organisation key.",
		"3. Read the manifest: intake_onion must be the address in your Tor Browser's address bar, and organisation the newsroom you mean to reach.",
	}
	if m.Canary != "" {
		paras = append(paras, "The newsroom's statement (canary), dated "+m.Date+": "+m.Canary)
	}
	if m.Expired {
		paras = append(paras, "WARNING: this manifest, dated "+m.Date+", has EXPIRED: the newsroom has not renewed it in time. Do not rely on it or on its canary; ask the newsroom, through its public website, before you submit.")
	} else {
		paras = append(paras, "The manifest is dated "+m.Date+".")
	}
	v.D = messagePage{Paras: paras, Links: []link{{"/manifest.asc", "Download the manifest (manifest.asc)"}, {v.URL("/"), "Back"}}}
	s.renderView(w, http.StatusOK, "message", v)
}
