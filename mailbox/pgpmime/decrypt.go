package pgpmime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"golang.org/x/text/encoding/htmlindex"
)

// MaxDecrypted caps the decrypted size of a message Decrypt accepts. The
// decrypted message is held in memory (so that Open can return any part and
// so that integrity is checked before anything is shown): replies are
// text and small files, and a cap keeps a hostile or compressed message
// from exhausting memory.
const MaxDecrypted = 64 << 20

// Limits on the shape of a decrypted message.
const (
	maxParts = 1000
	maxDepth = 16
)

// Errors Decrypt returns; callers branch on them.
var (
	ErrNotEncrypted = errors.New("pgpmime: not an OpenPGP encrypted message")
	ErrDecrypt      = errors.New("pgpmime: cannot decrypt (no matching key, or damaged)")
	ErrTooLarge     = fmt.Errorf("pgpmime: decrypted message larger than %d MiB", MaxDecrypted>>20)
)

// Part describes one attachment of a decrypted message.
type Part struct {
	Name        string // sanitised (SanitizeFilename)
	ContentType string // bare media type, e.g. "application/pdf"
	Size        int64  // decoded bytes
}

// Decrypted is a decrypted message: its text, subject and attachments.
type Decrypted struct {
	Text    string // the first text/plain body (or text drawn from HTML): UTF-8, LF line ends, flowed text joined
	Subject string // the protected subject when present, else the outer one
	Parts   []Part

	plain []byte  // decrypted MIME entity (nil for inline messages)
	paths [][]int // per part: child indexes from the root entity
}

// Decrypt reads a PGP/MIME message (RFC 3156), or a single-part message
// with an inline armored PGP MESSAGE, and decrypts it with keys. Signatures
// are not checked: Postern has no key to check them against. The whole
// ciphertext is read and its integrity (MDC) checked before anything is
// returned.
func Decrypt(r io.Reader, keys openpgp.EntityList) (*Decrypted, error) {
	outer, err := message.Read(r)
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("%w: %v", ErrNotEncrypted, err)
	}
	subject, _ := (&mail.Header{Header: outer.Header}).Subject()
	d := &Decrypted{Subject: cleanLine(subject)}

	mt, params, _ := outer.Header.ContentType()
	var ct io.Reader
	isMIME := false
	switch {
	case mt == "multipart/encrypted":
		if p := strings.ToLower(params["protocol"]); p != "" && p != "application/pgp-encrypted" {
			return nil, fmt.Errorf("%w: protocol %q", ErrNotEncrypted, p)
		}
		if ct, err = encryptedPart(outer); err != nil {
			return nil, err
		}
		isMIME = true
	case mt == "" || mt == "text/plain":
		ct = outer.Body
	default:
		return nil, fmt.Errorf("%w: %s", ErrNotEncrypted, mt)
	}

	plain, err := decryptBody(ct, keys)
	if err != nil {
		return nil, err
	}
	if !isMIME {
		d.Text = NormalizeText(toUTF8(plain, "utf-8"), nil)
		return d, nil
	}
	d.plain = plain
	if err := d.parse(); err != nil {
		return nil, err
	}
	return d, nil
}

// encryptedPart returns the body of the application/octet-stream part.
func encryptedPart(outer *message.Entity) (io.Reader, error) {
	mr := outer.MultipartReader()
	for i := 0; i < 8; i++ {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return nil, fmt.Errorf("%w: %v", ErrNotEncrypted, err)
		}
		if mt, _, _ := p.Header.ContentType(); mt == "application/octet-stream" {
			return p.Body, nil
		}
	}
	return nil, fmt.Errorf("%w: no application/octet-stream part", ErrNotEncrypted)
}

// decryptBody decrypts armored (or binary) OpenPGP data, reading all of it
// so that the integrity check runs, and refuses more than MaxDecrypted.
func decryptBody(ct io.Reader, keys openpgp.EntityList) ([]byte, error) {
	br := bufio.NewReader(ct)
	var pr io.Reader = br
	if first, err := firstNonSpace(br); err != nil || first != 0 && first&0x80 == 0 {
		// Not a binary packet: armor (which skips text before BEGIN).
		block, err := armor.Decode(br)
		if err != nil {
			return nil, fmt.Errorf("%w: no PGP MESSAGE armor", ErrNotEncrypted)
		}
		if block.Type != "PGP MESSAGE" {
			return nil, fmt.Errorf("%w: armored %q", ErrNotEncrypted, block.Type)
		}
		pr = block.Body
	}
	md, err := openpgp.ReadMessage(pr, keys, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	if !md.IsEncrypted {
		return nil, ErrNotEncrypted
	}
	plain, err := io.ReadAll(io.LimitReader(md.UnverifiedBody, MaxDecrypted+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	if len(plain) > MaxDecrypted {
		return nil, ErrTooLarge
	}
	return plain, nil
}

// firstNonSpace peeks at the first byte that is not white space (0 at EOF).
func firstNonSpace(br *bufio.Reader) (byte, error) {
	for i := 1; i <= 4096; i++ {
		b, err := br.Peek(i)
		if len(b) < i {
			if errors.Is(err, io.EOF) {
				return 0, nil
			}
			return 0, err
		}
		if c := b[i-1]; c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c, nil
		}
	}
	return 0, nil
}

// parse walks the decrypted MIME entity once: text, protected subject,
// and the list of attachments with their decoded sizes.
func (d *Decrypted) parse() error {
	root, err := message.Read(bytes.NewReader(d.plain))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return fmt.Errorf("%w: inner MIME: %v", ErrDecrypt, err)
	}
	if s, _ := (&mail.Header{Header: root.Header}).Subject(); root.Header.Has("Subject") {
		d.Subject = cleanLine(s)
	}
	var html string
	if err := d.walk(root, nil, 0, &html); err != nil {
		return err
	}
	if d.Text == "" && html != "" {
		d.Text = htmlToText(html)
	}
	return nil
}

func (d *Decrypted) walk(e *message.Entity, path []int, depth int, html *string) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: MIME nested too deep", ErrDecrypt)
	}
	mt, params, _ := e.Header.ContentType()
	if mr := e.MultipartReader(); mr != nil {
		for i := 0; ; i++ {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
				return fmt.Errorf("%w: inner MIME: %v", ErrDecrypt, err)
			}
			// multipart/signed: the second part is the signature.
			if mt == "multipart/signed" && i > 0 {
				continue
			}
			if err := d.walk(p, append(path[:len(path):len(path)], i), depth+1, html); err != nil {
				return err
			}
		}
	}
	disp, dparams, _ := e.Header.ContentDisposition()
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	attachment := strings.EqualFold(disp, "attachment") || name != ""
	switch {
	case !attachment && mt == "text/plain" && d.Text == "" && params["protected-headers"] == "":
		b, err := io.ReadAll(e.Body)
		if err != nil {
			return fmt.Errorf("%w: text: %v", ErrDecrypt, err)
		}
		d.Text = NormalizeText(toUTF8(b, params["charset"]), params)
		return nil
	case !attachment && mt == "text/html":
		if *html == "" {
			b, err := io.ReadAll(e.Body)
			if err != nil {
				return fmt.Errorf("%w: html: %v", ErrDecrypt, err)
			}
			*html = toUTF8(b, params["charset"])
		}
		return nil
	case mt == "text/rfc822-headers" || params["protected-headers"] != "" && !attachment:
		// A "legacy display" copy of the protected headers.
		return nil
	case mt == "application/pgp-signature":
		return nil
	}
	if len(d.Parts) >= maxParts {
		return fmt.Errorf("%w: more than %d parts", ErrDecrypt, maxParts)
	}
	n, err := io.Copy(io.Discard, e.Body)
	if err != nil {
		return fmt.Errorf("%w: part: %v", ErrDecrypt, err)
	}
	if mt == "" {
		mt = "application/octet-stream"
	}
	d.Parts = append(d.Parts, Part{Name: SanitizeFilename(name), ContentType: safeMediaType(mt), Size: n})
	d.paths = append(d.paths, path)
	return nil
}

// Open returns the decoded content of attachment i. The reader reads from
// the decrypted message held in memory; several may be open at once.
func (d *Decrypted) Open(i int) (io.Reader, error) {
	if i < 0 || i >= len(d.paths) {
		return nil, fmt.Errorf("pgpmime: no part %d", i)
	}
	e, err := message.Read(bytes.NewReader(d.plain))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("pgpmime: open part %d: %w", i, err)
	}
	for _, idx := range d.paths[i] {
		mr := e.MultipartReader()
		if mr == nil {
			return nil, fmt.Errorf("pgpmime: open part %d: structure changed", i)
		}
		for j := 0; j <= idx; j++ {
			p, err := mr.NextPart()
			if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
				return nil, fmt.Errorf("pgpmime: open part %d: %w", i, err)
			}
			e = p
		}
	}
	return e.Body, nil
}

// toUTF8 decodes text in a declared charset; unknown charsets and invalid
// bytes become U+FFFD rather than an error.
func toUTF8(b []byte, charset string) string {
	cs := strings.ToLower(strings.TrimSpace(charset))
	if cs != "" && cs != "utf-8" && cs != "utf8" && cs != "us-ascii" {
		if enc, err := htmlindex.Get(cs); err == nil {
			if out, err := enc.NewDecoder().Bytes(b); err == nil {
				b = out
			}
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
