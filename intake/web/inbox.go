package web

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"unicode"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/reply"
	"postern/mailbox/store"
)

// inboxPage is the data of the codename inbox.
type inboxPage struct {
	Used    bool
	Notice  string // message key of a status line ("deleted")
	Replies []replyView
	DeskTo  string // the desk the source writes to, when there are several
}

type replyView struct {
	ID, Date, Subject, Text string
	Unreadable              bool
	Parts                   []partView
}

type partView struct{ Name, Size, Href string }

// account returns a copy of the session's source and its reply key, or
// errNoSession. The source is nil before the first submission.
func (rq *req) account() (*store.Source, *openpgp.Entity, error) {
	var src *store.Source
	var key *openpgp.Entity
	err := rq.withState(func(st *state) error {
		if st.src == nil {
			return nil
		}
		k, err := st.replyKey()
		if err != nil {
			return err
		}
		c := *st.src
		src, key = &c, k
		return nil
	})
	return src, key, err
}

// inbox decrypts the replies with the session's re-derived key for display.
// Replies are written by journalists and are short; each is decrypted in
// memory for this response only and never cached.
func (s *Server) inbox(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	src, key, err := rq.account()
	if errors.Is(err, errNoSession) {
		s.expired(w, rq)
		return
	}
	if err != nil {
		s.fault("inbox", err)
		s.internal(w, rq)
		return
	}
	p := inboxPage{Used: src != nil}
	switch r.URL.Query().Get("n") {
	case "1":
		p.Notice = "inbox.deleted"
	case "all":
		p.Notice = "inbox.deletedall"
	}
	if src != nil {
		replies, err := s.o.Store.Replies(src.ID)
		if err != nil {
			s.fault("list replies", err)
			s.internal(w, rq)
			return
		}
		if p.DeskTo, err = s.deskTitle(src.ID, ""); err != nil {
			s.fault("inbox: desk", err)
		}
		v := s.view(rq, "", nil)
		for _, rep := range replies {
			p.Replies = append(p.Replies, s.showReply(v, rep, key))
		}
	}
	s.render(w, rq, http.StatusOK, "inbox", "inbox.title", p)
}

func (s *Server) showReply(v *view, rep store.Reply, key *openpgp.Entity) replyView {
	rv := replyView{ID: rep.ID, Date: rep.Created.UTC().Format("2006-01-02")}
	d, err := s.decryptReply(rep, key)
	if err != nil {
		// The reason may describe the ciphertext, never its content.
		s.fault("reply unreadable", err)
		rv.Unreadable = true
		return rv
	}
	// A reply that came already encrypted was stored as it was: its
	// signature block and the journalist's key or vCard are cut here, as the
	// relay cuts them from plaintext replies on the way in.
	rv.Subject, rv.Text = d.Subject, reply.StripSignature(d.Text)
	for i, part := range d.Parts {
		if reply.IdentifyingType(part.ContentType) {
			continue
		}
		rv.Parts = append(rv.Parts, partView{
			Name: displayName(part.Name, i),
			Size: humanBytes(part.Size),
			Href: v.URL(fmt.Sprintf("/inbox/file/%s/%d", rep.ID, i)),
		})
	}
	return rv
}

// findReply returns the source's reply with this id (Replies is per source,
// so another source's reply id is simply not found).
func (s *Server) findReply(src *store.Source, id string) (store.Reply, error) {
	replies, err := s.o.Store.Replies(src.ID)
	if err != nil {
		return store.Reply{}, err
	}
	for _, r := range replies {
		if r.ID == id {
			return r, nil
		}
	}
	return store.Reply{}, store.ErrNotFound
}

// download sends one attachment of a reply, decrypted, as a download: never
// rendered by the browser (octet-stream, attachment, nosniff).
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	src, key, err := rq.account()
	if errors.Is(err, errNoSession) {
		s.expired(w, rq)
		return
	}
	if err != nil || src == nil {
		s.notFound(w, rq)
		return
	}
	idx, err := strconv.Atoi(r.PathValue("part"))
	if err != nil || idx < 0 {
		s.notFound(w, rq)
		return
	}
	rep, err := s.findReply(src, r.PathValue("reply"))
	if err != nil {
		s.notFound(w, rq)
		return
	}
	d, err := s.decryptReply(rep, key)
	if err != nil || idx >= len(d.Parts) || reply.IdentifyingType(d.Parts[idx].ContentType) {
		s.notFound(w, rq)
		return
	}
	body, err := d.Open(idx)
	if err != nil {
		s.fault("open reply part", err)
		s.notFound(w, rq)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{
		"filename": displayName(d.Parts[idx].Name, idx),
	}))
	if d.Parts[idx].Size > 0 {
		h.Set("Content-Length", strconv.FormatInt(d.Parts[idx].Size, 10))
	}
	_, _ = io.Copy(w, body) // a browser that went away: nothing to do or count
}

// displayName makes a reply attachment's name safe to show and to save:
// the last path element, no control characters, bounded length.
func displayName(name string, i int) string {
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '/' || r == '"' {
			return -1
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	if r := []rune(name); len(r) > 120 {
		name = string(r[:120])
	}
	if name == "" {
		return fmt.Sprintf("attachment-%d", i+1)
	}
	return name
}

func (s *Server) deleteReply(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	if !s.smallForm(w, rq, false) {
		return
	}
	src, _, err := rq.account()
	if errors.Is(err, errNoSession) {
		s.expired(w, rq)
		return
	}
	if err != nil || src == nil {
		s.notFound(w, rq)
		return
	}
	id := r.PostForm.Get("id")
	if err := s.o.Store.DeleteReply(src.ID, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.notFound(w, rq)
			return
		}
		s.fault("delete reply", err)
		s.internal(w, rq)
		return
	}
	s.redirectQuery(w, rq, "/inbox", "n=1")
}

func (s *Server) deleteAllReplies(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	if !s.smallForm(w, rq, false) {
		return
	}
	src, _, err := rq.account()
	if errors.Is(err, errNoSession) {
		s.expired(w, rq)
		return
	}
	if err != nil || src == nil {
		s.redirect(w, rq, "/inbox")
		return
	}
	replies, err := s.o.Store.Replies(src.ID)
	if err != nil {
		s.fault("list replies", err)
		s.internal(w, rq)
		return
	}
	for _, rep := range replies {
		if err := s.o.Store.DeleteReply(src.ID, rep.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.fault("delete reply", err)
			s.internal(w, rq)
			return
		}
	}
	s.redirectQuery(w, rq, "/inbox", "n=all")
}

func (s *Server) redirectQuery(w http.ResponseWriter, rq *req, p, q string) {
	u := s.view(rq, "", nil).URL(p)
	if strings.Contains(u, "?") {
		u += "&" + q
	} else {
		u += "?" + q
	}
	http.Redirect(w, rq.r, u, http.StatusSeeOther)
}
