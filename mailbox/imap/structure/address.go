package structure

import (
	"mime"
	"strings"

	"github.com/emersion/go-imap/v2"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// extractEnvelope is imapserver.ExtractEnvelope with RFC 5322 address
// lists of our own (parseAddressList): the library flattens groups, drops
// empty ones, and gives nothing for an address net/mail refuses (a route
// "<@relay:user@host>", obsolete comments "user (x)@ (y) host"), so a From
// could come out NIL.
func extractEnvelope(h textproto.Header) *imap.Envelope {
	mh := mail.Header{Header: gomessage.Header{Header: h}}
	date, _ := mh.Date()
	subject, _ := mh.Subject()
	inReplyTo, _ := mh.MsgIDList("In-Reply-To")
	messageID, _ := mh.MessageID()
	return &imap.Envelope{
		Date:      date,
		Subject:   subject,
		From:      parseAddressList(h.Get("From")),
		Sender:    parseAddressList(h.Get("Sender")),
		ReplyTo:   parseAddressList(h.Get("Reply-To")),
		To:        parseAddressList(h.Get("To")),
		Cc:        parseAddressList(h.Get("Cc")),
		Bcc:       parseAddressList(h.Get("Bcc")),
		InReplyTo: inReplyTo,
		MessageID: messageID,
	}
}

// Placeholders for a missing half of an address, as Dovecot writes them:
// an address with a mailbox and no host would read as a group start.
const (
	missingMailbox = "MISSING_MAILBOX"
	missingDomain  = "MISSING_DOMAIN"
)

// parseAddressList converts an address-list header value into ENVELOPE
// addresses (RFC 3501 7.4.2): a group is its start marker (the name in the
// mailbox field, no host), its members, and an end marker (all NIL). It
// accepts the obsolete syntax of RFC 5322 4.4 (routes, comments and
// spaces between the parts of an address, empty list elements, phrases
// with dots) and never fails: what it cannot read as an address it keeps
// as well as it can, so a header with something in it never gives NIL.
func parseAddressList(v string) []imap.Address {
	toks := lexAddress(v)
	var (
		out     []imap.Address
		seg     []addrToken
		inGroup bool
		angle   int
	)
	flush := func() {
		if a, ok := segmentAddress(seg); ok {
			out = append(out, a)
		}
		seg = seg[:0]
	}
	for _, t := range toks {
		switch t.kind {
		case '<':
			angle++
		case '>':
			angle = max(angle-1, 0)
		case ',':
			if angle == 0 {
				flush()
				continue
			}
		case ':':
			if angle == 0 && !inGroup {
				if name := phrase(seg); name != "" {
					out = append(out, imap.Address{Mailbox: name})
					inGroup = true
				}
				// A group without a name cannot be marked: its members
				// are listed on their own.
				seg = seg[:0]
				continue
			}
		case ';':
			if angle == 0 {
				flush()
				if inGroup {
					out = append(out, imap.Address{})
					inGroup = false
				}
				continue
			}
		}
		seg = append(seg, t)
	}
	flush()
	if inGroup {
		out = append(out, imap.Address{})
	}
	return out
}

// addrToken is a lexical token of an address: an atom or dot-atom piece
// ('a'), a quoted string ('q', unquoted), a domain literal ('a', brackets
// kept), a comment ('c', its text), or a special character.
type addrToken struct {
	kind byte
	text string
	sp   bool // white space or a comment came before it
}

func lexAddress(v string) []addrToken {
	var out []addrToken
	sp := false
	emit := func(kind byte, text string) {
		out = append(out, addrToken{kind, text, sp})
		sp = kind == 'c'
	}
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			sp = true
			i++
		case c == '(':
			depth, j := 0, i
			var b strings.Builder
		comment:
			for ; j < len(v); j++ {
				switch v[j] {
				case '\\':
					if j+1 < len(v) {
						j++
						b.WriteByte(v[j])
					}
					continue
				case '(':
					depth++
					if depth == 1 {
						continue
					}
				case ')':
					depth--
					if depth == 0 {
						j++
						break comment
					}
				}
				b.WriteByte(v[j])
			}
			emit('c', strings.TrimSpace(b.String()))
			i = j
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(v) && v[j] != '"'; j++ {
				if v[j] == '\\' && j+1 < len(v) {
					j++
				}
				if v[j] != '\r' && v[j] != '\n' {
					b.WriteByte(v[j])
				}
			}
			emit('q', b.String())
			i = min(j+1, len(v))
		case c == '[':
			j := strings.IndexByte(v[i:], ']')
			if j < 0 {
				j = len(v) - i - 1
			}
			emit('a', v[i:i+j+1])
			i += j + 1
		case strings.IndexByte("<>@,;:.", c) >= 0:
			emit(c, string(c))
			i++
		default:
			j := i
			for j < len(v) && strings.IndexByte(" \t\r\n()\"[<>@,;:.", v[j]) < 0 {
				j++
			}
			if j == i { // a stray ")" or "]"
				j++
			}
			emit('a', v[i:j])
			i = j
		}
	}
	return out
}

// segmentAddress reads one mailbox: "phrase <route:local@domain>" or
// "local@domain (comment)".
func segmentAddress(seg []addrToken) (imap.Address, bool) {
	lt := -1
	for i, t := range seg {
		if t.kind == '<' {
			lt = i
			break
		}
	}
	var a imap.Address
	if lt >= 0 {
		inner := seg[lt+1:]
		for i, t := range inner {
			if t.kind == '>' {
				inner = inner[:i]
				break
			}
		}
		for i := len(inner) - 1; i >= 0; i-- {
			if inner[i].kind == ':' {
				inner = inner[i+1:] // an obsolete route: dropped (NIL adl)
				break
			}
		}
		a.Mailbox, a.Host = addrSpec(inner)
		a.Name = phrase(seg[:lt])
	} else {
		a.Mailbox, a.Host = addrSpec(seg)
		for _, t := range seg {
			if t.kind == 'c' && t.text != "" {
				a.Name = decodeWords(t.text)
				break
			}
		}
		if a.Mailbox == "" && a.Host == "" {
			return imap.Address{}, false // an empty list element
		}
	}
	if a.Mailbox == "" {
		a.Mailbox = missingMailbox
	}
	if a.Host == "" {
		a.Host = missingDomain
	}
	return a, true
}

// addrSpec joins the tokens before the last "@" into the local part and
// those after it into the domain, leaving out comments and spaces.
func addrSpec(toks []addrToken) (local, domain string) {
	at := -1
	for i, t := range toks {
		if t.kind == '@' {
			at = i
		}
	}
	join := func(ts []addrToken) string {
		var b strings.Builder
		for _, t := range ts {
			if t.kind != 'c' && t.kind != '@' && t.kind != '<' && t.kind != '>' {
				b.WriteString(t.text)
			}
		}
		return b.String()
	}
	if at < 0 {
		return join(toks), ""
	}
	return join(toks[:at]), join(toks[at+1:])
}

// phrase is a display name: its words with the spaces between them (dots
// of an obsolete phrase kept), encoded words decoded.
func phrase(toks []addrToken) string {
	var b strings.Builder
	for _, t := range toks {
		if t.kind != 'a' && t.kind != 'q' && t.kind != '.' {
			continue
		}
		if b.Len() > 0 && t.sp {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
	}
	return strings.TrimSpace(decodeWords(b.String()))
}

// decodeWords decodes RFC 2047 encoded words, keeping the text as it is
// where it cannot.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	d := mime.WordDecoder{CharsetReader: gomessage.CharsetReader}
	if out, err := d.DecodeHeader(s); err == nil {
		return out
	}
	return s
}
