package structure

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/textproto"
)

// Range is a byte range of the file, [Start, End).
type Range struct{ Start, End int64 }

// Len is the number of bytes in r.
func (r Range) Len() int64 { return r.End - r.Start }

// Section is where a FETCH BODY[...] item's bytes come from: a plain file
// range, or (for HEADER.FIELDS) a header block to filter.
type Section struct {
	Range  Range
	Filter bool // Range is a header block to filter by Fields/Not
	Fields []string
	Not    bool
}

// Locate maps a body section to the file. ok is false for a part that does
// not exist, which IMAP answers with an empty string.
func (s *Structure) Locate(item *imap.FetchItemBodySection) (Section, bool) {
	root := s.Root
	var sec Section
	if len(item.Part) == 0 {
		switch item.Specifier {
		case imap.PartSpecifierNone:
			sec.Range = Range{0, s.Size}
		case imap.PartSpecifierHeader:
			sec.Range = Range{root.HeaderStart, root.BodyStart}
		case imap.PartSpecifierText:
			sec.Range = Range{root.BodyStart, s.Size}
		default:
			return Section{}, false
		}
	} else {
		p := root.find(item.Part)
		if p == nil {
			return Section{}, false
		}
		switch item.Specifier {
		case imap.PartSpecifierNone:
			sec.Range = Range{p.BodyStart, p.End}
		case imap.PartSpecifierMIME:
			sec.Range = Range{p.HeaderStart, p.BodyStart}
		case imap.PartSpecifierHeader, imap.PartSpecifierText:
			m := p
			if p.Message != nil {
				m = p.Message
			}
			if item.Specifier == imap.PartSpecifierHeader {
				sec.Range = Range{m.HeaderStart, m.BodyStart}
			} else {
				sec.Range = Range{m.BodyStart, m.End}
			}
		}
	}
	if item.Specifier == imap.PartSpecifierHeader {
		switch {
		case len(item.HeaderFields) > 0:
			sec.Filter, sec.Fields = true, item.HeaderFields
		case len(item.HeaderFieldsNot) > 0:
			sec.Filter, sec.Fields, sec.Not = true, item.HeaderFieldsNot, true
		}
	}
	if sec.Range.End < sec.Range.Start {
		sec.Range.End = sec.Range.Start
	}
	return sec, true
}

// find resolves a part path the way RFC 3501 numbers parts: a single-part
// message has one part, 1; a message/rfc822 part is entered transparently.
func (p *Part) find(path []int) *Part {
	cur := p
	if !cur.isMultipart() && len(path) > 0 && path[0] == 1 {
		path = path[1:]
	}
	for _, n := range path {
		if cur.Message != nil {
			cur = cur.Message
		}
		if cur.isMultipart() {
			if n < 1 || n > len(cur.Children) {
				return nil
			}
			cur = cur.Children[n-1]
			continue
		}
		if n != 1 {
			return nil
		}
	}
	return cur
}

// Bytes returns the section's content when it must be built (a filtered
// header, read from f; small by construction), or nil when the section is
// a plain range to stream.
func (sec Section) Bytes(f io.ReaderAt) ([]byte, error) {
	if !sec.Filter {
		return nil, nil
	}
	n := min(sec.Range.Len(), maxHeaderBytes+2)
	h, err := readHeader(f, sec.Range.Start, n)
	if err != nil {
		h = textproto.Header{}
	}
	if sec.Not {
		for _, k := range sec.Fields {
			h.Del(k)
		}
	} else {
		keep := make(map[string]bool, len(sec.Fields))
		for _, k := range sec.Fields {
			keep[strings.ToLower(k)] = true
		}
		for fields := h.Fields(); fields.Next(); {
			if !keep[strings.ToLower(fields.Key())] {
				fields.Del()
			}
		}
	}
	var buf bytes.Buffer
	if err := textproto.WriteHeader(&buf, h); err != nil {
		return nil, fmt.Errorf("structure: header: %w", err)
	}
	return buf.Bytes(), nil
}

// Partial narrows r to an IMAP <offset.size> window.
func Partial(r Range, p *imap.SectionPartial) Range {
	if p == nil {
		return r
	}
	start := r.Start + min(max(p.Offset, 0), r.Len())
	end := min(start+max(p.Size, 0), r.End)
	return Range{start, end}
}

// Header reads the message's top header block from f (bounded), for SEARCH.
func (s *Structure) Header(f io.ReaderAt) (textproto.Header, error) {
	n := min(s.Root.BodyStart-s.Root.HeaderStart, maxHeaderBytes+2)
	h, err := readHeader(f, s.Root.HeaderStart, n)
	if err != nil {
		return textproto.Header{}, fmt.Errorf("structure: header: %w", err)
	}
	return h, nil
}

// readHeader parses the header block at [off, off+n). A block cut short
// (no blank line) still parses: a blank line is supplied after it.
func readHeader(f io.ReaderAt, off, n int64) (textproto.Header, error) {
	r := io.MultiReader(io.NewSectionReader(f, off, n), strings.NewReader("\r\n\r\n"))
	return textproto.ReadHeader(bufio.NewReader(r))
}
