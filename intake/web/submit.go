package web

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"postern/mailbox/delivery"
	"postern/mailbox/store"
)

// Errors of an upload, each mapped to its own page. Nothing is stored after
// any of them: the delivery is aborted.
var (
	errTooLarge   = errors.New("web: submission too large")
	errBadForm    = errors.New("web: malformed submission")
	errCSRF       = errors.New("web: missing or wrong form token")
	errSubject    = errors.New("web: bad subject")
	errMessage    = errors.New("web: message too long")
	errUTF8       = errors.New("web: invalid text")
	errEmpty      = errors.New("web: empty submission")
	errUploadsOff = errors.New("web: uploads not allowed")
	errTooMany    = errors.New("web: too many files")
	errClient     = errors.New("web: client read failed")
	errDelivery   = errors.New("web: delivery failed")
	errTooSlow    = errors.New("web: upload below the rate floor")
)

// fileContentType is what every attachment is labelled: the relay treats
// files as opaque bytes and does not trust what the browser guessed.
const fileContentType = "application/octet-stream"

func (s *Server) submitGet(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	if err := rq.withState(func(*state) error { return nil }); err != nil {
		s.expired(w, rq)
		return
	}
	desks, deskTo, err := s.deskForm(rq)
	if err != nil {
		s.fault("submit page: desks", err)
		s.internal(w, rq)
		return
	}
	s.render(w, rq, http.StatusOK, "submit", "submit.title", submitPage{
		MaxSubject: MaxSubjectChars, MaxChars: s.o.MaxMessageChars,
		MaxSize: humanBytes(s.o.MaxSubmissionBytes), AllowUploads: s.o.AllowUploads,
		Desks: desks, DeskTo: deskTo,
	})
}

type submitPage struct {
	MaxSubject, MaxChars int
	MaxSize              string
	AllowUploads         bool
	Desks                []deskOption // the choice of a first submission (desk.go)
	DeskTo               string       // the desk written to, when there are several
}

// bodyLimit is the most request body bytes an upload may send: the
// submission itself plus room for the fields, the part headers and the
// boundaries. The exact limit on content is counted separately.
func (s *Server) bodyLimit() int64 {
	return s.o.MaxSubmissionBytes + int64(s.o.MaxMessageChars)*5 + MaxSubjectChars*4 + MaxFiles*4096 + 64<<10
}

// submitPost streams a multipart submission into a delivery. The body is
// read part by part (never ParseMultipartForm, which spools files to disk):
// the CSRF token first, then the subject and the message (small, capped),
// then each file copied straight into the encrypting writer. Anything wrong
// aborts the delivery, so nothing half-done is ever stored.
func (s *Server) submitPost(w http.ResponseWriter, r *http.Request) {
	rq := s.newReq(r)
	if err := rq.withState(func(*state) error { return nil }); err != nil {
		s.expired(w, rq)
		return
	}
	ct, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "multipart/form-data" || params["boundary"] == "" {
		s.badRequest(w, rq, "")
		return
	}
	limit := s.bodyLimit()
	if r.ContentLength > limit {
		s.tooLarge(w, rq)
		return
	}
	// One session may not take every upload slot: each upload holds its
	// session (it cannot expire meanwhile), at most MaxUploadsPerSession.
	release, ok := s.sessions.TryHold(rq.sess, s.o.MaxUploadsPerSession)
	if !ok {
		s.refuseUpload(w, rq, "error.uploading.text")
		return
	}
	defer release()
	if !s.takeSlot(r.Context()) {
		s.refuseUpload(w, rq, "error.busy.text")
		return
	}
	defer func() { <-s.uploads }()
	if !s.roomFor(r.ContentLength, limit) {
		s.refuseUpload(w, rq, "error.busy.text")
		return
	}
	rc := http.NewResponseController(w)
	// A slow circuit may take an hour for 500 MiB: no overall deadline,
	// but a read that stalls for uploadIdleTimeout, or an average rate below
	// the floor after the grace period, ends the upload.
	_ = rc.SetWriteDeadline(time.Time{})
	pace := &paceReader{r: r.Body, rc: rc, start: time.Now(), minRate: s.o.UploadMinRate, grace: s.o.UploadGrace}
	s.flights.add(pace)
	defer s.flights.remove(pace)
	body := &tailReader{r: http.MaxBytesReader(w, pace, limit)}
	err = s.receive(rq, multipart.NewReader(body, params["boundary"]), func() bool {
		return body.endsWith("--" + params["boundary"] + "--")
	})
	_ = rc.SetWriteDeadline(time.Now().Add(requestWriteTimeout))
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		s.redirect(w, rq, "/submitted")
	case errors.Is(err, errTooSlow):
		floor := s.o.UploadMinRate
		if pace.evicted.Load() { // dropped for a newcomer while every slot was taken
			floor *= contestFactor
		}
		s.problem(w, rq, http.StatusRequestTimeout, "error.tooslow.title",
			rq.t("error.tooslow.text", humanBytes(floor)))
	case errors.Is(err, errTooLarge), errors.As(err, &mbe):
		s.tooLarge(w, rq)
	case errors.Is(err, errNoSession):
		s.expired(w, rq)
	case errors.Is(err, errCSRF):
		s.forbiddenCSRF(w, rq)
	case errors.Is(err, errSubject):
		s.badRequest(w, rq, rq.t("error.subject.text", MaxSubjectChars))
	case errors.Is(err, errMessage):
		s.badRequest(w, rq, rq.t("error.message.text", s.o.MaxMessageChars))
	case errors.Is(err, errUTF8):
		s.badRequest(w, rq, rq.t("error.utf8.text"))
	case errors.Is(err, errEmpty):
		s.badRequest(w, rq, rq.t("error.empty.text"))
	case errors.Is(err, errUploadsOff):
		s.badRequest(w, rq, rq.t("error.uploadsoff.text"))
	case errors.Is(err, errTooMany):
		s.badRequest(w, rq, rq.t("error.toomany.text", MaxFiles))
	case s.deskProblem(w, rq, err):
	case errors.Is(err, delivery.ErrNoRecipients) && s.severalDesks():
		// The desk lost its last journalist since the form was shown.
		s.deskProblem(w, rq, errDeskClosed)
	case errors.Is(err, errBadForm), errors.Is(err, errClient), errors.Is(err, context.Canceled):
		// A client that went away reads nothing of this; one that sent
		// garbage gets a plain "not understood".
		s.badRequest(w, rq, "")
	default:
		// Only the error: it never holds a subject, a name or content.
		s.fault("submission failed", err)
		s.internal(w, rq)
	}
}

// refuseUpload answers "busy" to an upload whose body will not be read.
// The connection is closed after the answer: otherwise net/http would first
// drain up to 256 KiB of the body, at whatever pace the client sends it,
// and a trickling client would wait for its answer while holding a
// connection.
func (s *Server) refuseUpload(w http.ResponseWriter, rq *req, textKey string) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Retry-After", "60")
	s.problem(w, rq, http.StatusServiceUnavailable, "error.busy.title", rq.t(textKey))
}

// upload is one submission being received.
type upload struct {
	s       *Server
	rq      *req
	subject string
	message string
	seen    map[string]bool
	files   int
	content int64 // message and file bytes so far, against MaxSubmissionBytes
	tx      *delivery.Tx
	created bool   // this request created the source record
	desk    string // the desk chosen in the form, first submission only
}

// receive reads the whole multipart body into a delivery and commits it.
// complete reports whether the body really ended with the final boundary:
// mime/multipart returns a plain io.EOF for a body cut inside a part's
// headers, which must not pass for the end of a submission.
func (s *Server) receive(rq *req, mr *multipart.Reader, complete func() bool) (err error) {
	u := &upload{s: s, rq: rq, seen: map[string]bool{}}
	defer func() {
		if err != nil {
			u.abort()
		}
	}()
	if err := u.checkToken(mr); err != nil {
		return err
	}
	buf := make([]byte, 32<<10)
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			if !complete() {
				return errBadForm
			}
			break
		}
		if err != nil {
			return classifyRead(err)
		}
		name, filename, err := formPart(p.Header.Get("Content-Disposition"))
		if err != nil {
			return err
		}
		switch name {
		case "desk":
			// Sent first after the token, by the first submission's form.
			if len(u.seen) > 0 || u.files > 0 || u.tx != nil {
				return errBadForm
			}
			u.seen[name] = true
			b, err := readCapped(p, 64)
			if errors.Is(err, errTooLarge) {
				return errDeskForged // longer than any slug
			}
			if err != nil {
				return err
			}
			u.desk = string(b)
		case "subject", "message":
			if u.seen[name] || u.files > 0 || u.tx != nil {
				return errBadForm // the form sends them once, before files
			}
			u.seen[name] = true
			if err := u.field(name, p); err != nil {
				return err
			}
		case "file":
			if err := u.file(p, filename, buf); err != nil {
				return err
			}
		default:
			return errBadForm
		}
	}
	if u.tx == nil {
		if u.message == "" {
			return errEmpty
		}
		if err := u.start(); err != nil {
			return err
		}
	}
	if err := u.tx.Commit(rq.r.Context()); err != nil {
		return errors.Join(errDelivery, err)
	}
	u.tx = nil
	if err := rq.withState(func(st *state) error { return s.o.Store.TouchSource(st.src.ID) }); err != nil {
		s.fault("touch source", err)
	}
	return nil
}

// checkToken requires the first part to be the session's CSRF token, so no
// byte of a file is accepted from a forged form.
func (u *upload) checkToken(mr *multipart.Reader) error {
	p, err := mr.NextPart()
	if err != nil {
		return classifyRead(err)
	}
	name, _, err := formPart(p.Header.Get("Content-Disposition"))
	if err != nil {
		return err
	}
	if name != "csrf" {
		return errCSRF
	}
	tok, err := readCapped(p, 128)
	if err != nil {
		return err
	}
	ok := false
	if err := u.rq.withState(func(*state) error { ok = u.rq.sess.CheckCSRF(string(tok)); return nil }); err != nil {
		return err
	}
	if !ok {
		return errCSRF
	}
	return nil
}

// field reads the subject or the message with its cap.
func (u *upload) field(name string, p io.Reader) error {
	if name == "subject" {
		b, err := readCapped(p, MaxSubjectChars*4)
		if errors.Is(err, errTooLarge) {
			return errSubject
		}
		if err != nil {
			return err
		}
		if !utf8.Valid(b) {
			return errUTF8
		}
		subj := string(b)
		if utf8.RuneCountInString(subj) > MaxSubjectChars || strings.IndexFunc(subj, unicode.IsControl) >= 0 {
			// CR and LF are controls: a subject is one line, so no header
			// can be smuggled through it whatever the writer does.
			return errSubject
		}
		u.subject = strings.TrimSpace(subj)
		return nil
	}
	max := u.s.o.MaxMessageChars
	b, err := readCapped(p, int64(max)*5) // 4 bytes a rune, plus CR of CRLF
	if errors.Is(err, errTooLarge) {
		return errMessage
	}
	if err != nil {
		return err
	}
	if !utf8.Valid(b) || strings.IndexByte(string(b), 0) >= 0 {
		return errUTF8
	}
	// Browsers send textarea lines as CRLF; count them as one character.
	msg := strings.ReplaceAll(string(b), "\r\n", "\n")
	if utf8.RuneCountInString(msg) > max {
		return errMessage
	}
	if strings.TrimSpace(msg) == "" {
		msg = ""
	}
	u.message = msg
	u.content += int64(len(msg))
	return nil
}

// file streams one file part into the delivery. The browser sends an empty,
// nameless part when no file was chosen: it is skipped.
func (u *upload) file(p io.Reader, filename string, buf []byte) error {
	cr := &clientReader{r: p}
	n, err := io.ReadFull(cr, buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return classifyRead(err)
	}
	if n == 0 && filename == "" {
		return nil
	}
	if !u.s.o.AllowUploads {
		return errUploadsOff
	}
	if u.files++; u.files > MaxFiles {
		return errTooMany
	}
	if u.tx == nil {
		if err := u.start(); err != nil {
			return err
		}
	}
	fw, err := u.tx.File(filename, fileContentType)
	if err != nil {
		return errors.Join(errDelivery, err)
	}
	lw := &limitWriter{w: fw, u: u}
	if _, err := lw.Write(buf[:n]); err != nil {
		return err
	}
	if n < len(buf) {
		return nil
	}
	if _, err := io.CopyBuffer(lw, cr, buf); err != nil {
		if cr.err != nil {
			return classifyRead(cr.err)
		}
		return err
	}
	return nil
}

// start creates the source record if this is its first submission, then
// starts the delivery and writes the message text.
func (u *upload) start() error {
	var src store.Source
	err := u.rq.withState(func(st *state) error {
		if st.src != nil && u.desk != "" && u.desk != st.src.Desk {
			return errDeskForged // later submissions keep the codename's desk
		}
		if st.src == nil {
			desk, err := u.s.chooseDesk(st.desk, u.desk)
			if err != nil {
				return err
			}
			if err := u.s.ensureSource(st, desk); err != nil {
				return err
			}
			u.created = true
			// The session now belongs to a source: it counts against the
			// room kept for returning sources, not the fresh quota.
			u.s.sessions.Claim(u.rq.sess, st.src.ID)
		}
		src = *st.src
		return nil
	})
	if err != nil {
		return err
	}
	tx, err := u.s.startDelivery(u.rq.r.Context(), src, u.subject)
	if err != nil {
		return err
	}
	u.tx = tx
	if u.message != "" {
		if err := tx.Text(u.message); err != nil {
			return errors.Join(errDelivery, err)
		}
	}
	return nil
}

// abort drops the delivery and, if this request created the source record
// and nothing was committed under it since, removes it again: a failed first
// submission leaves nothing stored.
func (u *upload) abort() {
	if u.tx != nil {
		u.tx.Abort()
		u.tx = nil
	}
	if !u.created {
		return
	}
	_ = u.rq.withState(func(st *state) error {
		if st.src == nil {
			return nil
		}
		// Another request of this source (a second tab) may have committed
		// a submission meanwhile: then the record stays, with everything.
		err := u.s.o.Store.DeleteSourceIfUnused(st.src.ID)
		if errors.Is(err, store.ErrSourceInUse) {
			return nil
		}
		if err != nil {
			u.s.fault("remove source of failed first submission", err)
		}
		wipeEntity(st.key)
		st.key, st.src = nil, nil
		u.s.sessions.Disown(u.rq.sess)
		return nil
	})
}

// Defaults of the upload bounds in Options.
const (
	DefaultMaxUploads           = 16
	DefaultMaxUploadsPerSession = 2
	// A 1 MiB file over a poor Tor circuit (tens of KiB a second) takes well
	// under a minute; below 1 KiB a second averaged over a minute, a 500 MiB
	// cap would hold a slot for six days.
	DefaultUploadMinRate = 1 << 10
	DefaultUploadGrace   = time.Minute
)

// diskReserve is kept free for the database, IMAP appends and replies.
const diskReserve = 256 << 20

// roomFor reports whether the disk can take a submission of declared size
// (unknown: the limit) once encrypted, with a reserve. A flood of uploads
// must not fill the disk and break the rest of the relay.
func (s *Server) roomFor(declared, limit int64) bool {
	if declared <= 0 || declared > limit {
		declared = limit
	}
	free, err := s.o.FreeBytes(s.o.Store.Dir())
	if err != nil {
		return true // no statistics: let the write fail if it must
	}
	// Ciphertext is at most ~1.9 times the submitted bytes (base64, armor).
	if need := declared*2 + diskReserve; free < uint64(need) {
		s.fault("submission refused: the disk is nearly full", nil)
		return false
	}
	return true
}
