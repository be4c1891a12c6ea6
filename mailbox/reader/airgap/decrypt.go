package airgap

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/quotedprintable"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"postern/mailbox/pgpmime"
)

// Errors of one message; the reader reports them per item and goes on.
var (
	ErrNotEncrypted = errors.New("not an OpenPGP/MIME encrypted message")
	ErrWrongKey     = errors.New("not encrypted to this key")
	ErrDamaged      = errors.New("damaged: the decryption or its integrity check failed")
)

// Limits on one decrypted message. Files have none: they stream to disk,
// except the first memBudget bytes of small files (each under memFile), kept
// in memory until the message is verified, which saves a file each.
const (
	memFile   = 256 << 10
	memBudget = 8 << 20
	maxText   = 4 << 20
	maxParts  = 1000
	maxDepth  = 16
)

// opened is one decrypted mail, its files still in the staging folder.
type opened struct {
	MessageID, InReplyTo string
	FromName, FromAddr   string
	ToName, ToAddr       string
	Day                  string // YYYY-MM-DD (UTC); "" if the mail has no date
	Subject              string
	Text                 string
	Autocrypt            string // base64 key data, when its addr is the From
	Files                []staged
}

// staged is a decrypted file waiting, in memory when small, else in the
// staging folder, until the whole message passed its integrity check.
type staged struct {
	Orig   string // the name in the mail, sanitised
	Path   string // in the staging folder, or "" when Data holds it
	Data   []byte
	Type   string
	Size   int64
	SHA256 string
}

// decryptMessage reads one PGP/MIME mail from r and decrypts it with keys,
// streaming every attachment into a file under stage. The plaintext is
// usable only when it returns nil: OpenPGP's integrity check (MDC) runs at
// the end of the stream, so the caller must not move a staged file before.
func decryptMessage(r io.Reader, keys openpgp.EntityList, stage string, sc *scratch) (*opened, error) {
	sc.outer.Reset(r)
	outer, err := message.Read(sc.outer)
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("%w: %v", ErrNotEncrypted, err)
	}
	m := headerInfo(mail.Header{Header: outer.Header})
	if mt, _, _ := outer.Header.ContentType(); mt != "multipart/encrypted" {
		return nil, fmt.Errorf("%w (%s)", ErrNotEncrypted, mt)
	}
	ct, err := encryptedPart(outer)
	if err != nil {
		return nil, err
	}
	body, err := armorBody(ct, sc)
	if err != nil {
		return nil, err
	}
	plain, err := decryptStream(body, keys, sc)
	if err != nil {
		return nil, err
	}
	w := walker{m: m, stage: stage, sc: sc}
	ok := false
	defer func() {
		if !ok {
			m.discard()
		}
	}()
	// The inner MIME is walked raw, its transfer encodings undone here
	// (b64Reader), as go-message would, but without its slow base64 path.
	br := sc.inner
	br.Reset(plain)
	defer br.Reset(nil)
	th, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, damaged("inner MIME", err)
	}
	root := message.Header{Header: th}
	if root.Has("Subject") {
		s, _ := (&mail.Header{Header: root}).Subject()
		m.Subject = oneLine(s)
	}
	if err := w.walk(root, br, 0); err != nil {
		return nil, err
	}
	// Read to the end: the integrity check runs there.
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, damaged("", err)
	}
	ok = true
	return m, nil
}

// damaged wraps err, met reading what (may be ""), as ErrDamaged, unless
// it is one already: the decryption's own errors say what failed (the
// integrity check, most often), once.
func damaged(what string, err error) error {
	switch {
	case errors.Is(err, ErrDamaged):
		return err
	case what == "":
		return fmt.Errorf("%w (%v)", ErrDamaged, err)
	}
	return fmt.Errorf("%w (%s: %v)", ErrDamaged, what, err)
}

// discard removes the staged files still there.
func (m *opened) discard() {
	for _, f := range m.Files {
		if f.Path != "" {
			os.Remove(f.Path)
		}
	}
}

func headerInfo(h mail.Header) *opened {
	m := &opened{}
	if from, err := h.AddressList("From"); err == nil && len(from) > 0 {
		m.FromName, m.FromAddr = oneLine(from[0].Name), strings.ToLower(from[0].Address)
	}
	if to, err := h.AddressList("To"); err == nil && len(to) > 0 {
		m.ToName, m.ToAddr = oneLine(to[0].Name), strings.ToLower(to[0].Address)
	}
	if d, err := h.Date(); err == nil && !d.IsZero() {
		m.Day = d.UTC().Format("2006-01-02")
	}
	m.MessageID, _ = h.MessageID()
	if ids, err := h.MsgIDList("In-Reply-To"); err == nil && len(ids) > 0 {
		m.InReplyTo = ids[0]
	}
	if s, err := h.Subject(); err == nil {
		m.Subject = oneLine(s)
	}
	m.Autocrypt = autocryptKey(h.Get("Autocrypt"), m.FromAddr)
	return m
}

// autocryptKey returns the keydata of an Autocrypt header whose addr is from.
func autocryptKey(v, from string) string {
	var addr, key string
	for _, attr := range strings.Split(v, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(attr), "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "addr":
			addr = strings.ToLower(strings.TrimSpace(val))
		case "keydata":
			key = strings.Join(strings.Fields(val), "")
		}
	}
	if addr == "" || addr != from {
		return ""
	}
	return key
}

// encryptedPart returns the body of the application/octet-stream part.
func encryptedPart(outer *message.Entity) (io.Reader, error) {
	mr := outer.MultipartReader()
	if mr == nil {
		return nil, ErrNotEncrypted
	}
	for range 8 {
		p, err := mr.NextPart()
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			break
		}
		if mt, _, _ := p.Header.ContentType(); mt == "application/octet-stream" {
			return p.Body, nil
		}
	}
	return nil, fmt.Errorf("%w: no encrypted part", ErrNotEncrypted)
}

type walker struct {
	m     *opened
	stage string
	text  bool
	mem   int64 // bytes of files kept in memory
	sc    *scratch
}

// scratch holds the buffers and decompressors one run reuses from message to
// message, instead of making them anew for each.
type scratch struct {
	outer, lit *bufio.Reader
	zin        *bufio.Reader // the compressed packet's body
	inner      *bufio.Reader // the decrypted MIME
	armor      *bufio.Reader // the armored ciphertext
	lines      armorLines
	b64        *b64Reader // base64 parts of the decrypted MIME
	armorB64   *b64Reader
	file       *bufio.Writer
	mem        []byte
	seipd      *seipdReader
	inflate    io.ReadCloser // a klauspost flate reader (flate.Resetter)
	zlib       io.ReadCloser // a klauspost zlib reader (zlib.Resetter)
}

func newScratch() *scratch {
	return &scratch{outer: bufio.NewReaderSize(nil, 64<<10), lit: bufio.NewReaderSize(nil, 16<<10),
		zin:   bufio.NewReaderSize(nil, 32<<10),
		inner: bufio.NewReaderSize(nil, 64<<10), b64: newB64Reader(false),
		armor: bufio.NewReaderSize(nil, 64<<10), armorB64: newB64Reader(true),
		file: bufio.NewWriterSize(nil, 256<<10), mem: make([]byte, memFile+1)}
}

// walk reads one MIME entity: h its header, raw its body as sent (its
// transfer encoding not undone).
func (w *walker) walk(h message.Header, raw io.Reader, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w (MIME nested too deep)", ErrDamaged)
	}
	mt, params, _ := h.ContentType()
	if strings.HasPrefix(mt, "multipart/") {
		mr := textproto.NewMultipartReader(raw, params["boundary"])
		for i := 0; ; i++ {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return damaged("inner MIME", err)
			}
			if mt == "multipart/signed" && i > 0 {
				continue
			}
			if err := w.walk(message.Header{Header: p.Header}, p, depth+1); err != nil {
				return err
			}
		}
	}
	body := w.decoded(h, raw)
	disp, dparams, _ := h.ContentDisposition()
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	attachment := strings.EqualFold(disp, "attachment") || name != ""
	switch {
	case !attachment && mt == "text/plain" && !w.text && params["protected-headers"] == "":
		b, err := io.ReadAll(io.LimitReader(body, maxText))
		if err != nil {
			return damaged("text", err)
		}
		w.text = true
		w.m.Text = pgpmime.NormalizeText(strings.ToValidUTF8(string(b), "\uFFFD"), params)
		return nil
	case mt == "application/pgp-keys", mt == "application/pgp-signature", mt == "text/rfc822-headers",
		!attachment && (strings.HasPrefix(mt, "text/") || params["protected-headers"] != ""):
		// The source's key (the Autocrypt header carries it), a signature,
		// a legacy copy of the protected headers, an HTML alternative.
		return nil
	}
	if len(w.m.Files) >= maxParts {
		return fmt.Errorf("%w (more than %d files)", ErrDamaged, maxParts)
	}
	if name == "" {
		name = "attachment"
	}
	sum := sha256.New()
	sf := staged{Orig: pgpmime.SanitizeFilename(name), Type: mt}
	if w.mem < memBudget {
		n, err := io.ReadFull(body, w.sc.mem)
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			return damaged("file", err)
		}
		if n <= memFile && w.mem+int64(n) <= memBudget {
			w.mem += int64(n)
			data := bytes.Clone(w.sc.mem[:n])
			sum.Write(data)
			sf.Data, sf.Size, sf.SHA256 = data, int64(n), hex.EncodeToString(sum.Sum(nil))
			w.m.Files = append(w.m.Files, sf)
			return nil
		}
		body = io.MultiReader(bytes.NewReader(w.sc.mem[:n]), body) // read out below, before mem is used again
	}
	f, err := os.CreateTemp(w.stage, "file-")
	if err != nil {
		return fmt.Errorf("staging a file: %w", err)
	}
	path := f.Name()
	bw := w.sc.file
	bw.Reset(io.MultiWriter(f, sum))
	n, err := io.Copy(bw, body)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return damaged("file", err)
	}
	sf.Path, sf.Size, sf.SHA256 = path, n, hex.EncodeToString(sum.Sum(nil))
	w.m.Files = append(w.m.Files, sf)
	return nil
}

// decoded undoes the transfer encoding of a leaf part's body; an unknown
// one is left as is, as go-message does.
func (w *walker) decoded(h message.Header, raw io.Reader) io.Reader {
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "base64":
		w.sc.b64.Reset(raw)
		return w.sc.b64
	case "quoted-printable":
		return quotedprintable.NewReader(raw)
	}
	return raw
}

func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	return strings.Join(strings.Fields(s), " ")
}
