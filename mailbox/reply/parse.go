package reply

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// Kind says how a journalist's reply arrived.
type Kind int

// Kinds of reply.
const (
	// Plain is a reply the relay can read; it encrypts it to the source.
	Plain Kind = iota + 1
	// PGPMIME is a multipart/encrypted reply (RFC 3156), Thunderbird's way.
	PGPMIME
	// Inline is a single text part holding one armored PGP MESSAGE.
	Inline
)

// Limits on the shape of a reply. A reply is a few paragraphs and files;
// the bounds keep a hostile or broken message from costing much.
const (
	maxParts = 100
	maxDepth = 16
)

// Attachment is one file of a plaintext reply, decoded, in memory.
type Attachment struct {
	Name        string // as the journalist's client sent it; pgpmime sanitises it
	ContentType string // bare media type
	Data        []byte
}

// Parsed is what the relay takes from a reply. Nothing of the outer header
// is kept but the subject: everything else is rebuilt by the relay.
type Parsed struct {
	Kind Kind
	// Subject, Text and Attachments are set for Plain.
	Subject     string
	Text        string // UTF-8, LF line ends, format=flowed joined
	Attachments []Attachment
	// Ciphertext is the binary OpenPGP message of PGPMIME and Inline.
	Ciphertext []byte
}

// Wipe overwrites the plaintext held by p. Go may have made copies while
// parsing; this clears the ones the relay still holds.
func (p *Parsed) Wipe() {
	for i := range p.Attachments {
		clear(p.Attachments[i].Data)
	}
	p.Attachments = nil
	p.Text, p.Subject = "", ""
}

// dropTypes are parts a journalist's client adds that identify the journalist
// (their signature, their public key, their vCard) and that a source does
// not need: they are left out of what the source gets.
var dropTypes = map[string]bool{
	"application/pgp-signature":     true,
	"application/pkcs7-signature":   true,
	"application/x-pkcs7-signature": true,
	"application/pgp-keys":          true,
	"text/vcard":                    true,
	"text/x-vcard":                  true,
	"text/directory":                true,
	"text/rfc822-headers":           true,
}

// IdentifyingType reports whether a part of this media type is one a
// journalist's client adds about the journalist (signature, key, vCard). The
// intake hides such parts of replies that reached the relay already
// encrypted, which it could not strip on the way in.
func IdentifyingType(mediaType string) bool { return dropTypes[strings.ToLower(mediaType)] }

// Parse reads a reply as received over SMTP. It never writes anything; the
// plaintext stays in the returned value, in memory.
func Parse(raw []byte) (*Parsed, error) {
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("%w (%v)", ErrMalformed, err)
	}
	mt, params, _ := e.Header.ContentType()
	switch mt {
	case "multipart/encrypted":
		if p := strings.ToLower(params["protocol"]); p != "application/pgp-encrypted" {
			return nil, ErrUnsupportedEncryption
		}
		ct, err := encryptedBody(e)
		if err != nil {
			return nil, err
		}
		return &Parsed{Kind: PGPMIME, Ciphertext: ct}, nil
	case "application/pkcs7-mime", "application/x-pkcs7-mime":
		return nil, ErrUnsupportedEncryption
	}

	p := &Parsed{Kind: Plain}
	if s, err := (&mail.Header{Header: e.Header}).Subject(); err == nil {
		p.Subject = oneLine(s)
	} else {
		p.Subject = oneLine(e.Header.Get("Subject"))
	}
	w := walker{p: p}
	if err := w.walk(e, 0); err != nil {
		p.Wipe()
		return nil, err
	}
	if p.Text == "" && w.html != "" {
		p.Text = htmlToText(w.html)
	}
	if w.armored {
		// An inline PGP MESSAGE: only a lone text part is understood.
		// Anything around it would be plaintext the journalist meant to
		// be encrypted, or files the relay would have to guess about.
		single := !strings.HasPrefix(mt, "multipart/") && len(p.Attachments) == 0
		p.Wipe()
		if !single {
			return nil, ErrMixedInline
		}
		ct, err := dearmorMessage(w.armoredText)
		if err != nil {
			return nil, err
		}
		return &Parsed{Kind: Inline, Ciphertext: ct}, nil
	}
	return p, nil
}

// encryptedBody returns the binary OpenPGP message of a multipart/encrypted
// entity: the application/octet-stream part, armored or not.
func encryptedBody(e *message.Entity) ([]byte, error) {
	mr := e.MultipartReader()
	if mr == nil {
		return nil, ErrMalformed
	}
	for i := 0; i < 8; i++ {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return nil, fmt.Errorf("%w (%v)", ErrMalformed, err)
		}
		if mt, _, _ := part.Header.ContentType(); mt != "application/octet-stream" {
			continue
		}
		b, err := io.ReadAll(part.Body)
		if err != nil {
			return nil, fmt.Errorf("%w (%v)", ErrMalformed, err)
		}
		if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 && t[0]&0x80 != 0 {
			return t, nil // binary, unusual but valid
		}
		return dearmorMessage(string(b))
	}
	return nil, fmt.Errorf("%w (no encrypted part)", ErrMalformed)
}

// dearmorMessage decodes the first armored PGP MESSAGE in s.
func dearmorMessage(s string) ([]byte, error) {
	block, err := armor.Decode(strings.NewReader(s))
	if err != nil || block.Type != "PGP MESSAGE" {
		return nil, fmt.Errorf("%w (no PGP MESSAGE armor)", ErrMalformed)
	}
	b, err := io.ReadAll(block.Body)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%w (damaged armor)", ErrMalformed)
	}
	return b, nil
}

// walker collects the text and files of a plaintext reply.
type walker struct {
	p           *Parsed
	html        string
	parts       int
	armored     bool   // a text part holds an armored PGP MESSAGE
	armoredText string // that part
}

func (w *walker) walk(e *message.Entity, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w (MIME nested too deep)", ErrMalformed)
	}
	if w.parts++; w.parts > maxParts {
		return fmt.Errorf("%w (more than %d parts)", ErrMalformed, maxParts)
	}
	mt, params, _ := e.Header.ContentType()
	if mr := e.MultipartReader(); mr != nil {
		for {
			part, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
				return fmt.Errorf("%w (%v)", ErrMalformed, err)
			}
			if err := w.walk(part, depth+1); err != nil {
				return err
			}
		}
	}
	if mt == "" {
		mt = "text/plain"
	}
	if IdentifyingType(mt) {
		if _, err := io.Copy(io.Discard, e.Body); err != nil {
			return fmt.Errorf("%w (%v)", ErrMalformed, err)
		}
		return nil
	}
	if mt == "multipart/encrypted" || mt == "application/pkcs7-mime" || mt == "application/x-pkcs7-mime" {
		return ErrMixedInline
	}
	disp, dparams, _ := e.Header.ContentDisposition()
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	attachment := strings.EqualFold(disp, "attachment") || name != ""
	body, err := io.ReadAll(e.Body)
	if err != nil {
		return fmt.Errorf("%w (%v)", ErrMalformed, err)
	}
	switch {
	case !attachment && mt == "text/plain":
		text := decodeText(body, params)
		clear(body)
		if strings.Contains(text, "-----BEGIN PGP MESSAGE-----") {
			w.armored, w.armoredText = true, text
			return nil
		}
		text = unsign(text)
		if w.p.Text == "" {
			w.p.Text = text
		} else if strings.TrimSpace(text) != "" {
			w.p.Text += "\n\n" + text
		}
		return nil
	case !attachment && mt == "text/html":
		if w.html == "" {
			w.html = charsetToUTF8(body, params["charset"])
		}
		clear(body)
		return nil
	}
	if name == "" {
		name = "attachment"
		if exts, _ := mime.ExtensionsByType(mt); len(exts) > 0 {
			name += exts[0]
		}
	}
	w.p.Attachments = append(w.p.Attachments, Attachment{Name: name, ContentType: mt, Data: body})
	return nil
}

// unsign returns the signed text of a clearsigned message and drops the
// signature, which names the journalist's key; other text is unchanged.
func unsign(text string) string {
	t := strings.TrimSpace(text)
	if !strings.HasPrefix(t, "-----BEGIN PGP SIGNED MESSAGE-----") {
		return text
	}
	b, rest := clearsign.Decode([]byte(t))
	if b == nil || len(bytes.TrimSpace(rest)) > 0 {
		return text
	}
	return strings.ReplaceAll(string(b.Plaintext), "\r\n", "\n")
}

// oneLine makes a header value safe to carry: one line, valid UTF-8.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
