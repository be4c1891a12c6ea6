package structure

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-imap/v2"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// version is stored in every encoded Structure; a different version is
// recomputed from the file rather than trusted.
const version = 1

// ErrMeta means cached meta is not a Structure of this version.
var ErrMeta = errors.New("structure: unusable meta")

// Structure is what IMAP needs about one message.
type Structure struct {
	V    int   `json:"v"`
	Size int64 `json:"size"`
	Root *Part `json:"root"`
}

// Part is one MIME entity and where it lies in the file: its header is
// [HeaderStart, BodyStart), its body [BodyStart, End).
type Part struct {
	HeaderStart int64 `json:"hs"`
	BodyStart   int64 `json:"bs"`
	End         int64 `json:"e"`
	Lines       int64 `json:"l,omitempty"`

	Type        string            `json:"t"`
	Subtype     string            `json:"st"`
	Params      map[string]string `json:"p,omitempty"`
	ID          string            `json:"id,omitempty"`
	Description string            `json:"d,omitempty"`
	Encoding    string            `json:"enc,omitempty"`
	Disposition string            `json:"disp,omitempty"`
	DispParams  map[string]string `json:"dp,omitempty"`
	Language    []string          `json:"lang,omitempty"`
	Location    string            `json:"loc,omitempty"`

	Children []*Part        `json:"c,omitempty"`   // multipart
	Message  *Part          `json:"m,omitempty"`   // message/rfc822: the embedded message
	Envelope *imap.Envelope `json:"env,omitempty"` // a message (the root, or embedded): its envelope

	boundary string
}

// Compute walks a whole message from r. It never fails on malformed MIME
// (the worst case is a single opaque text/plain part); it fails only when r
// does.
func Compute(r io.Reader) (*Structure, error) { return computeWith(r, false) }

// computeWith is Compute; copyAll makes body lines go the header lines' way
// (for the differential test of nextBody).
func computeWith(r io.Reader, copyAll bool) (*Structure, error) {
	w := &walker{lr: newLineReader(r)}
	w.lr.copyAll = copyAll
	root := &Part{}
	w.parsePart(root, nil, 0, false, true)
	// Drain anything a malformed part left unread so Size is the file size.
	for w.lr.next() != nil {
	}
	if w.lr.err != nil && !errors.Is(w.lr.err, io.EOF) {
		return nil, w.lr.err
	}
	root.End = w.lr.off
	return &Structure{V: version, Size: w.lr.off, Root: root}, nil
}

// Encode returns the compact form stored as the message's Meta.
func (s *Structure) Encode() ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("structure: encode: %w", err)
	}
	return b, nil
}

// Decode parses meta made by Encode. size is the blob size, checked so that
// meta belonging to another file is not trusted.
func Decode(meta []byte, size int64) (*Structure, error) {
	if len(meta) == 0 {
		return nil, ErrMeta
	}
	var s Structure
	if err := json.Unmarshal(meta, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMeta, err)
	}
	if s.V != version || s.Root == nil || s.Size != size {
		return nil, ErrMeta
	}
	return &s, nil
}

func (p *Part) isMessage() bool {
	return p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global")
}

func (p *Part) isMultipart() bool { return len(p.Children) > 0 || p.Type == "multipart" }

// fill sets the content fields from the raw header block.
func (p *Part) fill(raw []byte, digest, message bool) {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(append(raw, '\r', '\n'))))
	if err != nil {
		h = textproto.Header{}
	}
	mh := gomessage.Header{Header: h}
	mediaType, params, err := mh.ContentType()
	if err != nil || !strings.Contains(mediaType, "/") {
		mediaType, params = "text/plain", map[string]string{"charset": "us-ascii"}
		if digest && !mh.Has("Content-Type") {
			mediaType, params = "message/rfc822", nil
		}
	}
	p.Type, p.Subtype, _ = strings.Cut(strings.ToLower(mediaType), "/")
	p.boundary = params["boundary"]
	if len(p.boundary) > 200 {
		p.boundary = "" // RFC 2046 allows 70; a huge one is an attack on the walk
	}
	if len(params) > 0 {
		p.Params = params
	}
	p.ID = mh.Get("Content-Id")
	p.Description = mh.Get("Content-Description")
	p.Encoding = mh.Get("Content-Transfer-Encoding")
	if disp, dp, err := mh.ContentDisposition(); err == nil && disp != "" {
		p.Disposition = disp
		if len(dp) > 0 {
			p.DispParams = dp
		}
	}
	if v := mh.Get("Content-Language"); v != "" {
		for _, lang := range strings.Split(v, ",") {
			p.Language = append(p.Language, strings.TrimSpace(lang))
		}
	}
	p.Location = mh.Get("Content-Location")
	if message {
		p.Envelope = extractEnvelope(h)
	}
}

// Envelope is the message's envelope.
func (s *Structure) Envelope() *imap.Envelope { return s.Root.envelopeOrEmpty() }

// BodyStructure builds the IMAP body structure (always the extended form,
// which the server library can also write as plain BODY).
func (s *Structure) BodyStructure() imap.BodyStructure {
	return s.Root.bodyStructure()
}

func (p *Part) bodyStructure() imap.BodyStructure {
	if p.isMultipart() && len(p.Children) > 0 {
		bs := &imap.BodyStructureMultiPart{Subtype: p.Subtype}
		for _, c := range p.Children {
			bs.Children = append(bs.Children, c.bodyStructure())
		}
		bs.Extended = &imap.BodyStructureMultiPartExt{
			Params:      p.Params,
			Disposition: p.disposition(),
			Language:    p.Language,
			Location:    p.Location,
		}
		return bs
	}
	typ, sub := p.Type, p.Subtype
	if typ == "multipart" {
		// A multipart without parts cannot be written as one; show it as
		// what it is to a reader: opaque text.
		typ, sub = "text", "plain"
	}
	bs := &imap.BodyStructureSinglePart{
		Type:        typ,
		Subtype:     sub,
		Params:      p.Params,
		ID:          p.ID,
		Description: p.Description,
		Encoding:    p.Encoding,
		Size:        uint32(min(p.End-p.BodyStart, 1<<32-1)),
	}
	if p.isMessage() && p.Message != nil {
		bs.MessageRFC822 = &imap.BodyStructureMessageRFC822{
			Envelope:      p.Message.envelopeOrEmpty(),
			BodyStructure: p.Message.bodyStructure(),
			NumLines:      p.Lines,
		}
	}
	if typ == "text" {
		bs.Text = &imap.BodyStructureText{NumLines: p.Lines}
	}
	bs.Extended = &imap.BodyStructureSinglePartExt{
		Disposition: p.disposition(),
		Language:    p.Language,
		Location:    p.Location,
	}
	return bs
}

func (p *Part) envelopeOrEmpty() *imap.Envelope {
	if p.Envelope == nil {
		return &imap.Envelope{}
	}
	return p.Envelope
}

func (p *Part) disposition() *imap.BodyStructureDisposition {
	if p.Disposition == "" {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: p.Disposition, Params: p.DispParams}
}

// Meta walks a whole message and returns its encoded structure, for
// store.Delivery.Meta and store.Append: call it on the committed blob
// (store.OpenBlob) so IMAP never has to walk the file again.
func Meta(r io.Reader) ([]byte, error) {
	s, err := Compute(r)
	if err != nil {
		return nil, err
	}
	return s.Encode()
}
