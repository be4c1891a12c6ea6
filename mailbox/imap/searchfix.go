package imapd

import (
	"bytes"
	"strconv"
)

// searchFix works around go-imap v2.0.0-beta.8's SEARCH parser, which
// merges each LARGER, SMALLER and date key into the criteria with
// SearchCriteria.And, and And resets Smaller to zero whenever the merged key
// has none: "SMALLER 1371 LARGER 1383" reaches the session as "LARGER 1383"
// alone and matches a message it must not. The criteria the session gets
// cannot tell, so the guard rewrites the key on its way in: "SMALLER n"
// becomes "NOT LARGER n-1", the same set, parsed into a criteria of its own
// that no later key touches ("SMALLER 0", which the library reads as no
// limit at all, becomes "NOT ALL"). Only the key is rewritten: the
// arguments of other keys ("SUBJECT SMALLER"), quoted strings and literals
// pass as they are.
//
// One inexactness stays: "SMALLER 1" becomes "NOT LARGER 0", and LARGER 0
// is no limit to the library either, so it matches no message, where an
// empty one would match. The store holds no empty messages.
type searchFix struct {
	active  bool
	tokens  int  // tokens seen, tag and command name included
	keys    bool // past RETURN (...) and CHARSET x
	ret     int  // parenthesis depth inside RETURN (...)
	skip    int  // argument tokens still to pass for the current key
	smaller int  // offset of a SMALLER key in the line being fixed, or -1
	inRet   bool // RETURN seen, its list not yet closed
}

// start resets the state for a new command; words are its first three
// top-level tokens (tag, name, and the name after UID).
func (f *searchFix) start(words [3][]byte) {
	*f = searchFix{smaller: -1}
	name := words[1]
	if bytes.EqualFold(name, []byte("UID")) {
		name = words[2]
		f.tokens = -1 // one more token before the keys
	}
	f.active = bytes.EqualFold(name, []byte("SEARCH"))
}

// fix returns line (one line of the command, CRLF included) with its
// SMALLER keys rewritten; it returns line itself when there is nothing to
// rewrite.
func (f *searchFix) fix(line []byte) []byte {
	if !f.active {
		return line
	}
	body := bytes.TrimRight(line, "\r\n")
	var out []byte
	last := 0 // bytes of line copied to out
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == ' ':
			i++
			continue
		case c == '(' || c == ')':
			if f.inRet {
				if c == '(' {
					f.ret++
				} else if f.ret--; f.ret <= 0 {
					f.inRet = false
				}
			}
			i++
			continue
		}
		start := i
		switch c {
		case '"':
			i++
			for i < len(body) && body[i] != '"' {
				if body[i] == '\\' {
					i++
				}
				i++
			}
			i++
		case '{':
			i = len(body) // a literal ends the line; its data is not ours
		default:
			for i < len(body) && !bytes.ContainsRune([]byte(" ()\"{"), rune(body[i])) {
				i++
			}
		}
		i = min(i, len(body))
		if rep, ok := f.token(body[start:i], c != '"' && c != '{', start); ok {
			out = append(out, line[last:f.smaller]...)
			out = append(out, rep...)
			last = i
			f.smaller = -1
		}
	}
	f.smaller = -1 // a SMALLER whose number is on another line stays
	if out == nil {
		return line
	}
	return append(out, line[last:]...)
}

// token follows one token at offset off; it returns the replacement of
// the span from f.smaller to the token's end when the token completes a
// SMALLER key.
func (f *searchFix) token(tok []byte, atom bool, off int) ([]byte, bool) {
	f.tokens++
	switch {
	case f.tokens <= 2 || f.inRet:
		return nil, false
	case f.smaller >= 0:
		at := f.smaller
		f.smaller = -1
		n, err := strconv.ParseInt(string(tok), 10, 64)
		if !atom || err != nil || n < 0 {
			return nil, false
		}
		f.smaller = at
		if n == 0 {
			return []byte("NOT ALL"), true
		}
		return []byte("NOT LARGER " + strconv.FormatInt(n-1, 10)), true
	case f.skip > 0:
		f.skip--
		return nil, false
	case !atom:
		return nil, false
	}
	key := string(bytes.ToUpper(tok))
	if !f.keys {
		switch key {
		case "RETURN":
			f.inRet = true
			return nil, false
		case "CHARSET":
			f.skip = 1
			return nil, false
		}
		f.keys = true
	}
	switch key {
	case "SMALLER":
		f.smaller = off
	case "HEADER":
		f.skip = 2
	case "BCC", "CC", "FROM", "SUBJECT", "TO", "BODY", "TEXT", "KEYWORD", "UNKEYWORD",
		"SINCE", "BEFORE", "ON", "SENTSINCE", "SENTBEFORE", "SENTON", "LARGER", "UID":
		f.skip = 1
	}
	return nil, false
}
