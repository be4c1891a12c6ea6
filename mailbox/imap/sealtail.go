package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-message/textproto"
)

// isEncrypted judges a message by its first bytes; what follows them is
// checked while it is copied: an APPEND kept as it is may hold nothing but
// the OpenPGP message. Without this, a PGP/MIME message whose head was real
// ciphertext to the journalist was stored whole however much plaintext it
// carried in its preamble, after its armor, in a third part or in its
// epilogue. Each line is checked before it is written, so a message that
// breaks the rule is refused (NO) with none of the offending bytes stored;
// it cannot be sealed instead, since its first part is already written.
var errNotCiphertext = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
	Text: "Message not stored: it holds more than its OpenPGP message"}

// maxPreamble bounds the text before a PGP/MIME message's first part
// (Thunderbird writes one line of 63 bytes there).
const maxPreamble = 1 << 10

// copyCiphertext copies the body of a message isEncrypted accepted from br
// to w, line by line, refusing any line that is not part of its layout:
// for PGP/MIME a short preamble, the two parts, then the closing delimiter
// and blank lines; inside the armor only base64; after the armor only
// blank lines.
func copyCiphertext(w io.Writer, br *bufio.Reader, h textproto.Header) error {
	delim := ""
	if t, params, err := mime.ParseMediaType(h.Get("Content-Type")); err == nil && t == "multipart/encrypted" {
		delim = "--" + params["boundary"]
	}
	const (
		preamble   = iota // PGP/MIME: before the first delimiter
		parts             // before the armor: part headers, "Version: 1"
		armorHead         // armor header lines, up to a blank line
		armorBody         // base64, the checksum, up to the END line
		afterArmor        // blank lines, then (PGP/MIME) the closing delimiter
		epilogue          // blank lines only
	)
	state, delims, pre := parts, 0, 0
	if delim != "" {
		state = preamble
	}
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return errNotCiphertext // no line of this layout is 64 KiB long
		}
		if err != nil && err != io.EOF {
			return err
		}
		if len(line) > 0 {
			l := bytes.TrimRight(line, " \t\r\n")
			ok := true
			switch state {
			case preamble:
				pre += len(line)
				if string(l) == delim {
					state, delims = parts, 1
				}
				ok = pre <= maxPreamble
			case parts:
				switch {
				case string(l) == delim:
					delims++
					ok = delims <= 2
				case string(l) == "-----BEGIN PGP MESSAGE-----":
					state = armorHead
					ok = delim == "" || delims == 2
				case delim == "" && len(l) > 0:
					ok = false // inline: only blank lines before the armor
				}
			case armorHead:
				if len(l) == 0 {
					state = armorBody
				} else {
					ok = bytes.Contains(l, []byte(": "))
				}
			case armorBody:
				if string(l) == "-----END PGP MESSAGE-----" {
					state = afterArmor
				} else {
					ok = isBase64Line(l)
				}
			case afterArmor:
				if delim != "" && string(l) == delim+"--" {
					state = epilogue
				} else {
					ok = len(l) == 0
				}
			case epilogue:
				ok = len(l) == 0
			}
			if !ok {
				return errNotCiphertext
			}
			if _, werr := w.Write(line); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			break
		}
	}
	if state != epilogue && (delim != "" || state != afterArmor) {
		return errNotCiphertext // cut short: no END line or no closing delimiter
	}
	return nil
}

// isBase64Line reports whether l is a line of armored base64 or its
// checksum ("=" and four characters).
func isBase64Line(l []byte) bool {
	for _, c := range l {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/', c == '=':
		default:
			return false
		}
	}
	return true
}
