package imapd

import (
	"encoding/base64"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A mailbox name in invalid modified UTF-7 (RFC 3501 5.1.3: "a&", "&Jjo")
// fails inside the library's argument decoding, which answers it as its
// own internal error (the guard turns that into BAD). Dovecot answers NO to
// the commands that name a mailbox and OK, with nothing listed, to LIST
// and LSUB: the name is well-formed IMAP, only no mailbox can have it. The
// guard answers those itself (badMailboxAnswer), for commands that fit on
// one line; with a literal, the library's BAD stays.

// badMailboxAnswer returns the guard's answer to a one-line command whose
// mailbox argument is not valid modified UTF-7, or "" to pass the line.
func badMailboxAnswer(tag string, body []byte) string {
	args := splitArgs(body)
	if len(args) < 2 {
		return ""
	}
	cmd := strings.ToUpper(string(args[1]))
	var pos []int
	switch cmd {
	case "SELECT", "EXAMINE", "CREATE", "DELETE", "SUBSCRIBE", "UNSUBSCRIBE", "STATUS":
		pos = []int{2}
	case "RENAME":
		pos = []int{2, 3}
	case "LIST", "LSUB":
		pos = []int{2, 3}
	case "COPY", "MOVE":
		pos = []int{3}
	case "UID":
		if len(args) > 2 {
			if c := strings.ToUpper(string(args[2])); c == "COPY" || c == "MOVE" {
				cmd, pos = c, []int{4}
			}
		}
	}
	for _, p := range pos {
		if p >= len(args) {
			return ""
		}
		if len(args[p]) > 0 && args[p][0] == '(' {
			return "" // LIST-EXTENDED options or pattern lists: the library's
		}
		if !validMUTF7(string(args[p])) {
			if cmd == "LIST" || cmd == "LSUB" {
				return tag + " OK " + cmd + " completed"
			}
			return tag + " NO Mailbox name is not valid modified UTF-7"
		}
	}
	return ""
}

// splitArgs splits a command line into its top-level tokens: atoms, quoted
// strings (unquoted) and parenthesised groups (kept whole).
func splitArgs(b []byte) [][]byte {
	var out [][]byte
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == ' ':
			i++
		case c == '"':
			var s []byte
			j := i + 1
			for ; j < len(b) && b[j] != '"'; j++ {
				if b[j] == '\\' && j+1 < len(b) {
					j++
				}
				s = append(s, b[j])
			}
			out = append(out, s)
			i = j + 1
		case c == '(':
			depth, j := 0, i
			for ; j < len(b); j++ {
				if b[j] == '(' {
					depth++
				} else if b[j] == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			out = append(out, b[i:min(j+1, len(b))])
			i = j + 1
		default:
			j := i
			for j < len(b) && b[j] != ' ' && b[j] != '(' && b[j] != '"' {
				j++
			}
			out = append(out, b[i:j])
			i = j
		}
	}
	return out
}

var mutf7Enc = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// validMUTF7 reports whether the library's decoder accepts s: printable
// ASCII or UTF-8, "&-" for "&", and "&...-" segments of modified base64 of
// UTF-16 that encode only what cannot stand for itself, never two in a row.
func validMUTF7(s string) bool {
	if strings.EqualFold(s, "INBOX") {
		return true
	}
	if !utf8.ValidString(s) {
		return false
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || (c > 0x7e && c < utf8.RuneSelf) {
			return false
		}
		if c != '&' {
			ascii = true
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return false
		}
		seg := s[i+1 : i+1+end]
		i += end + 1
		if seg == "" {
			ascii = true
			continue
		}
		if !ascii || !validUTF16Base64(seg) {
			return false
		}
		ascii = false
	}
	return true
}

func validUTF16Base64(seg string) bool {
	if strings.ContainsAny(seg, "=\r\n") {
		return false
	}
	b, err := mutf7Enc.DecodeString(seg)
	if err != nil || len(b)%2 == 1 {
		return false
	}
	for i := 0; i < len(b); i += 2 {
		r := rune(b[i])<<8 | rune(b[i+1])
		switch {
		case utf16.IsSurrogate(r):
			if i += 2; i >= len(b) {
				return false
			}
			if utf16.DecodeRune(r, rune(b[i])<<8|rune(b[i+1])) == utf8.RuneError {
				return false
			}
		case 0x20 <= r && r <= 0x7e:
			return false
		}
	}
	return len(b) > 0
}
