// Package pgpmime writes and reads RFC 3156 PGP/MIME mail as a stream.
//
// The writer never holds a whole file: plaintext flows through the inner
// MIME encoder, ZLIB, OpenPGP encryption and armor straight into the
// caller's writer (a blob file), so a 500 MiB submission costs a few MiB of
// memory. The outer headers say nothing the From does not; the real
// subject travels inside the encryption as a protected header
// (draft-autocrypt-lamps-protected-headers), which Thunderbird displays.
package pgpmime

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"

	"postern/mailbox/pgp"
)

// Header describes the mail.
type Header struct {
	FromName, FromAddr, To string
	// Subject is protected: it appears only inside the encryption.
	Subject string
	// OuterSubject is the visible subject; empty means "Message from
	// <FromName>". It must not reveal more than From does.
	OuterSubject         string
	MessageID, InReplyTo string // without angle brackets; empty MessageID: a random one
	References           []string
	// Date is coarsened to the UTC day by the writer; zero means today.
	Date time.Time
	// Autocrypt, when set, is advertised in an Autocrypt header
	// (prefer-encrypt=mutual) with FromAddr as addr.
	Autocrypt *openpgp.Entity
	// Uncompressed turns off ZLIB inside the encryption (on by default;
	// it applies only when every recipient lists ZLIB, see
	// pgp.CompressionApplies).
	Uncompressed bool
}

// maxSubjectBytes caps the protected subject.
const maxSubjectBytes = 900

// ErrClosed is returned by a Writer used after Close or after an error.
var ErrClosed = errors.New("pgpmime: writer closed")

// Writer streams one PGP/MIME message. Parts are written in call order;
// each Text, File or AttachKey ends the previous part. It is not safe for
// concurrent use.
type Writer struct {
	env     *Envelope       // multipart/encrypted, padded
	enc     io.Writer       // env's plaintext
	inner   *message.Writer // multipart/mixed, protected headers
	part    *message.Writer // current inner part, or nil
	file    *partWriter     // the current part's writer if it is a file
	anyPart bool
	err     error // sticky
}

// NewWriter writes the outer headers to w and starts the encrypted body,
// encrypted to every recipient. Output is buffered (64 KiB) and complete
// only after Close, which pads the message to a Padmé length (see
// Envelope); after any error what reached w is garbage to discard.
func NewWriter(w io.Writer, to []*openpgp.Entity, h Header) (*Writer, error) {
	day := h.Date
	if day.IsZero() {
		day = time.Now()
	}
	day = day.UTC().Truncate(24 * time.Hour)
	msgID := cleanID(h.MessageID)
	if msgID == "" {
		var err error
		if msgID, err = randomMessageID(h.FromAddr); err != nil {
			return nil, err
		}
	}
	from := []*mail.Address{{Name: cleanLine(h.FromName), Address: cleanLine(h.FromAddr)}}
	var rcpt []*mail.Address
	if to := cleanLine(h.To); to != "" {
		var err error
		if rcpt, err = mail.ParseAddressList(to); err != nil {
			return nil, fmt.Errorf("pgpmime: To: %w", err)
		}
	}
	common := func(mh *mail.Header) {
		mh.SetAddressList("From", from)
		mh.SetAddressList("To", rcpt)
		mh.SetDate(day)
		mh.SetMessageID(msgID)
		if id := cleanID(h.InReplyTo); id != "" {
			mh.SetMsgIDList("In-Reply-To", []string{id})
		}
		var refs []string
		for _, r := range h.References {
			if id := cleanID(r); id != "" {
				refs = append(refs, id)
			}
		}
		mh.SetMsgIDList("References", refs)
	}

	var oh mail.Header
	common(&oh)
	outerSubject := cleanLine(h.OuterSubject)
	if outerSubject == "" {
		outerSubject = "Message from " + cleanLine(h.FromName)
	}
	oh.SetSubject(outerSubject)
	if h.Autocrypt != nil {
		v, err := autocryptValue(cleanLine(h.FromAddr), h.Autocrypt)
		if err != nil {
			return nil, err
		}
		oh.Set("Autocrypt", v)
	}
	pw := &Writer{}
	var err error
	if pw.env, err = NewEnvelope(w, oh.Header, to, pgp.EncryptOptions{Compress: !h.Uncompressed}); err != nil {
		return nil, err
	}
	pw.enc = pw.env.plaintext()

	var ih mail.Header
	common(&ih)
	// The subject comes from the source: one line, and short enough that
	// no mail reader chokes on it.
	ih.SetSubject(truncateUTF8(cleanLine(h.Subject), maxSubjectBytes))
	ih.SetContentType("multipart/mixed", map[string]string{"protected-headers": "v1"})
	// message.CreateWriter (not mail.CreateWriter, which rewrites
	// Content-Type parameters) keeps protected-headers="v1".
	if pw.inner, err = message.CreateWriter(pw.enc, ih.Header); err != nil {
		return nil, fmt.Errorf("pgpmime: inner: %w", err)
	}
	return pw, nil
}

// Text adds a text/plain part (UTF-8, quoted-printable). Invalid UTF-8 is
// replaced.
func (w *Writer) Text(s string) error {
	var h message.Header
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	p, err := w.newPart(h)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(p, strings.ToValidUTF8(s, "\uFFFD")); err != nil {
		return w.fail(fmt.Errorf("pgpmime: text: %w", err))
	}
	return nil
}

// File starts an attachment and returns the writer of its content, valid
// until the next Text, File, AttachKey or Close. The name is sanitised
// (SanitizeFilename) and contentType reduced to a plain, known-safe media
// type (application/octet-stream when empty or odd).
func (w *Writer) File(name, contentType string) (io.Writer, error) {
	name = SanitizeFilename(name)
	var h message.Header
	h.Set("Content-Type", mime.FormatMediaType(safeMediaType(contentType), map[string]string{"name": name}))
	// The standard library writes non-ASCII names as RFC 2231
	// (filename*=utf-8''...), which Thunderbird reads.
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	h.Set("Content-Transfer-Encoding", "base64")
	p, err := w.newPart(h)
	if err != nil {
		return nil, err
	}
	pw := &partWriter{w: w, p: p, sample: make([]byte, 0, sampleBytes)}
	w.file = pw
	return pw, nil
}

// AttachKey adds the public key of e as an application/pgp-keys part, the
// way Thunderbird attaches a sender's key.
func (w *Writer) AttachKey(e *openpgp.Entity) error {
	key, err := pgp.Armor(e)
	if err != nil {
		return w.fail(err)
	}
	name := fmt.Sprintf("OpenPGP_0x%s.asc", e.PrimaryKey.KeyIdString())
	var h message.Header
	h.SetContentType("application/pgp-keys", map[string]string{"name": name})
	h.SetContentDisposition("attachment", map[string]string{"filename": name})
	h.Set("Content-Transfer-Encoding", "7bit")
	p, err := w.newPart(h)
	if err != nil {
		return err
	}
	if _, err := (crlfWriter{p}).Write(key); err != nil {
		return w.fail(fmt.Errorf("pgpmime: key part: %w", err))
	}
	return nil
}

// Close ends the message. The order matters: inner MIME, then the
// envelope (the padding and the MDC, the armor, the outer multipart).
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if !w.anyPart {
		// A multipart with no part has no boundary at all, which readers
		// reject: give it an empty text.
		if err := w.Text(""); err != nil {
			return err
		}
	}
	if err := w.endPart(); err != nil {
		return err
	}
	if err := w.inner.Close(); err != nil {
		return w.fail(fmt.Errorf("pgpmime: close inner: %w", err))
	}
	if err := w.env.Close(); err != nil {
		return w.fail(err)
	}
	w.err = ErrClosed
	return nil
}

// Unpadded returns, after Close, the length the message would have had
// without its padding (Envelope.Unpadded).
func (w *Writer) Unpadded() int64 { return w.env.Unpadded() }

func (w *Writer) newPart(h message.Header) (*message.Writer, error) {
	if w.err != nil {
		return nil, w.err
	}
	if err := w.endPart(); err != nil {
		return nil, err
	}
	p, err := w.inner.CreatePart(h)
	if err != nil {
		return nil, w.fail(fmt.Errorf("pgpmime: part: %w", err))
	}
	w.part = p
	w.anyPart = true
	return p, nil
}

func (w *Writer) endPart() error {
	if w.part == nil {
		return nil
	}
	if f := w.file; f != nil {
		w.file = nil
		if err := f.decide(); err != nil {
			return err
		}
		// What follows (MIME headers, text) is ordinary again.
		if err := pgp.Incompressible(w.enc, false); err != nil {
			return w.fail(fmt.Errorf("pgpmime: compression: %w", err))
		}
	}
	p := w.part
	w.part = nil
	if err := p.Close(); err != nil {
		return w.fail(fmt.Errorf("pgpmime: end part: %w", err))
	}
	return nil
}

func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}

// partWriter refuses writes once its part is over, instead of writing
// them into the next part. It holds the first sampleBytes of the file
// back to tell the compressor whether the file is already compressed
// (photos, video, archives), which it then codes about twice as fast.
type partWriter struct {
	w       *Writer
	p       *message.Writer
	sample  []byte
	decided bool
}

// sampleBytes of a file decide how it is compressed.
const sampleBytes = 64 << 10

// decide gives the compressor its hint from the sample and writes the
// sample out. It runs once, when the sample is full or the part ends.
func (pw *partWriter) decide() error {
	if pw.decided {
		return nil
	}
	pw.decided = true
	if err := pgp.Incompressible(pw.w.enc, incompressible(pw.sample)); err != nil {
		return pw.w.fail(fmt.Errorf("pgpmime: compression: %w", err))
	}
	if _, err := pw.p.Write(pw.sample); err != nil {
		return pw.w.fail(fmt.Errorf("pgpmime: file: %w", err))
	}
	pw.sample = nil
	return nil
}

// incompressible reports whether deflate finds almost nothing to save in
// b: then the base64 of the file is best coded without looking for
// repeats.
func incompressible(b []byte) bool {
	if len(b) < 1024 {
		return false // too little to tell, and too little to matter
	}
	var n countWriter
	fw, err := flate.NewWriter(&n, flate.BestSpeed)
	if err != nil {
		return false
	}
	fw.Write(b)
	fw.Close()
	return int(n) > len(b)*9/10
}

type countWriter int

func (c *countWriter) Write(b []byte) (int, error) { *c += countWriter(len(b)); return len(b), nil }

func (pw *partWriter) Write(b []byte) (int, error) {
	if pw.w.err != nil {
		return 0, pw.w.err
	}
	if pw.w.part != pw.p {
		return 0, errors.New("pgpmime: write to a finished part")
	}
	if !pw.decided {
		k := min(len(b), cap(pw.sample)-len(pw.sample))
		pw.sample = append(pw.sample, b[:k]...)
		if len(pw.sample) < cap(pw.sample) {
			return len(b), nil
		}
		if err := pw.decide(); err != nil {
			return 0, err
		}
		n, err := pw.Write(b[k:])
		return k + n, err
	}
	n, err := pw.p.Write(b)
	if err != nil {
		return n, pw.w.fail(fmt.Errorf("pgpmime: file: %w", err))
	}
	return n, nil
}

// crlfWriter turns the bare LF line ends of armor into CRLF, as mail needs.
type crlfWriter struct{ w io.Writer }

func (c crlfWriter) Write(b []byte) (int, error) {
	written := 0
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			n, err := c.w.Write(b)
			return written + n, err
		}
		if _, err := c.w.Write(b[:i]); err != nil {
			return written, err
		}
		if _, err := c.w.Write([]byte("\r\n")); err != nil {
			return written, err
		}
		written += i + 1
		b = b[i+1:]
	}
	return written, nil
}

// autocryptValue builds the Autocrypt header value. keydata is base64 with
// a space every 64 characters so go-message can fold the line below 78
// characters (it only hard-folds at 998); Autocrypt ignores the spaces.
func autocryptValue(addr string, e *openpgp.Entity) (string, error) {
	key := pgp.Serialize(e)
	if key == nil {
		return "", errors.New("pgpmime: autocrypt: cannot serialize key")
	}
	b64 := base64.StdEncoding.EncodeToString(key)
	var sb strings.Builder
	sb.WriteString("addr=" + addr + "; prefer-encrypt=mutual; keydata=")
	for i := 0; i < len(b64); i += 64 {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(b64[i:min(i+64, len(b64))])
	}
	return sb.String(), nil
}

func randomMessageID(addr string) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("pgpmime: message id: %w", err)
	}
	domain := "postern.invalid"
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i+1 < len(addr) {
		domain = cleanID(addr[i+1:])
	}
	return hex.EncodeToString(b) + "@" + domain, nil
}

// cleanLine removes what would break or inject a header line.
func cleanLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// cleanID keeps a message identifier to its id-left@id-right characters.
func cleanID(s string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("<>()[]\\\",;", r) {
			return -1
		}
		return r
	}, s)
}
