package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"postern/mailbox/pgp"
	"postern/mailbox/pgpmime"
)

// Journalists' clients APPEND Sent copies and drafts. A reply written in
// plaintext (the relay encrypts it for the source on the SMTP path) would
// be stored here in plaintext, breaking "no plaintext of a reply on disk".
// So an APPENDed message that is not already OpenPGP-encrypted is sealed:
// wrapped whole (headers and body) into an RFC 3156 message encrypted to
// the journalist's own key, with minimal outer headers. The plaintext only
// streams through memory.

const maxAppendHeader = 256 << 10

var errHeaderTooBig = errors.New("imapd: message header too large")

// readRawHeader reads the header block, blank line included.
func readRawHeader(br *bufio.Reader) ([]byte, error) {
	var raw []byte
	for {
		line, err := br.ReadSlice('\n')
		raw = append(raw, line...)
		if len(raw) > maxAppendHeader {
			return nil, errHeaderTooBig
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			return raw, nil
		}
		if err != nil {
			return nil, err
		}
		if len(line) <= 2 && strings.TrimRight(string(line), "\r\n") == "" {
			return raw, nil
		}
	}
}

func parseHeader(raw []byte) textproto.Header {
	h, err := textproto.ReadHeader(bufio.NewReader(io.MultiReader(bytes.NewReader(raw), strings.NewReader("\r\n\r\n"))))
	if err != nil {
		return textproto.Header{}
	}
	return h
}

// isEncrypted reports whether the message is already OpenPGP ciphertext
// to the journalist, judged from what it is, not from what its header
// claims: a plaintext Sent copy whose header says multipart/encrypted, or
// whose text merely starts with an armor line, is sealed like any other.
//
// Accepted are RFC 3156 PGP/MIME (multipart/encrypted with protocol
// application/pgp-encrypted, a first part application/pgp-encrypted saying
// "Version: 1", a second part application/octet-stream holding an armored
// PGP MESSAGE) and inline OpenPGP (a text/plain body that is an armored PGP
// MESSAGE), in both cases an OpenPGP message whose first packets are
// session-key packets, one of them a PKESK to the journalist's key (to any
// key when the journalist has no usable key: then nothing else could be
// stored), followed by an encrypted data packet.
//
// Only the first packets are read, from what body already buffers (64 KiB
// of armor hold the PKESKs of about a hundred RSA-4096 recipients); a
// message whose packets do not fit is sealed.
func isEncrypted(h textproto.Header, body *bufio.Reader, key *openpgp.Entity) bool {
	head, _ := body.Peek(body.Size())
	var ids map[uint64]bool
	if key != nil {
		ids = pgp.KeyIDs(key)
	}
	return encryptedHead(h, head, ids)
}

// encryptedHead is isEncrypted on the message header and the first bytes
// of the body.
func encryptedHead(h textproto.Header, head []byte, ids map[uint64]bool) bool {
	t, params := "text/plain", map[string]string(nil)
	if v := h.Get("Content-Type"); v != "" {
		var err error
		if t, params, err = mime.ParseMediaType(v); err != nil {
			return false
		}
	}
	switch t {
	case "multipart/encrypted":
		return pgpMIMEEncrypted(params, head, ids)
	case "text/plain":
		return identityEncoding(h.Get("Content-Transfer-Encoding")) && armoredTo(head, ids)
	}
	return false
}

// pgpMIMEEncrypted checks the RFC 3156 structure of a multipart/encrypted
// body and the packets of its armored second part.
func pgpMIMEEncrypted(params map[string]string, head []byte, ids map[uint64]bool) bool {
	if !strings.EqualFold(params["protocol"], "application/pgp-encrypted") || params["boundary"] == "" {
		return false
	}
	mr := multipart.NewReader(bytes.NewReader(head), params["boundary"])
	control, err := mr.NextPart()
	if err != nil || mediaType(control.Header.Get("Content-Type")) != "application/pgp-encrypted" {
		return false
	}
	version, err := io.ReadAll(io.LimitReader(control, 1<<10))
	if err != nil || strings.Join(strings.Fields(string(version)), " ") != "Version: 1" {
		return false
	}
	data, err := mr.NextPart()
	if err != nil || mediaType(data.Header.Get("Content-Type")) != "application/octet-stream" ||
		!identityEncoding(data.Header.Get("Content-Transfer-Encoding")) {
		return false
	}
	// head ends somewhere in the part: what it holds is enough.
	armored, _ := io.ReadAll(data)
	return armoredTo(armored, ids)
}

// armoredTo reports whether b starts with an armored OpenPGP message
// encrypted to ids (see pgp.EncryptedTo).
func armoredTo(b []byte, ids map[uint64]bool) bool {
	bin, ok := pgp.ArmoredPrefix(b)
	return ok && pgp.EncryptedTo(bin, ids)
}

// identityEncoding reports whether a Content-Transfer-Encoding leaves the
// bytes as they are (armor is 7bit; base64 would hide what it holds).
func identityEncoding(cte string) bool {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

func mediaType(v string) string {
	t, _, _ := mime.ParseMediaType(v)
	return t
}

// sealHuffmanOnly is the size from which an APPENDed message is sealed
// with Huffman-only compression: a message this large is mostly
// attachments, base64 of photos, PDFs and archives, in which klauspost's
// level 1 finds no repeats and which it then stores as they are (0.97 of
// the plaintext), whereas Huffman-only coding takes the base64 alphabet to
// 0.76 in less time, leaving less to encrypt, armor and write. Smaller
// messages are mostly text, where level 1's matches pay.
const sealHuffmanOnly = 32 << 10

// seal writes the message (raw header, then body; size bytes in all) to w
// as PGP/MIME encrypted to key, padded to a Padmé length (pgpmime.Envelope).
func seal(w io.Writer, key *openpgp.Entity, h textproto.Header, rawHeader []byte, body io.Reader, size int64, bufs *pgp.Buffers) error {
	oh := outerHeader(h)
	oh.Set("MIME-Version", "1.0")
	to := []*openpgp.Entity{key}
	env, err := pgpmime.NewEnvelope(w, oh, to, pgp.EncryptOptions{
		Compress:       pgp.CompressionApplies(to),
		Incompressible: size >= sealHuffmanOnly,
		Parallel:       size >= sealHuffmanOnly,
		Buffers:        bufs,
	})
	if err != nil {
		return fmt.Errorf("imapd: seal: %w", err)
	}
	if _, err := env.Write(rawHeader); err != nil {
		env.Abort()
		return fmt.Errorf("imapd: seal: %w", err)
	}
	if _, err := io.Copy(env, body); err != nil {
		env.Abort()
		return fmt.Errorf("imapd: seal: %w", err)
	}
	if err := env.Close(); err != nil {
		return fmt.Errorf("imapd: seal: %w", err)
	}
	return nil
}

// outerHeader keeps only what a mail client needs to list and thread a stored
// message: addresses and ids. The exact time of a reply is about the source:
// the outer Date is the day; the subject, the client's name (User-Agent,
// X-Mozilla-*), Autocrypt and Organization stay out (inside the encryption,
// where the client put them, they remain).
func outerHeader(h textproto.Header) gomessage.Header {
	var oh gomessage.Header
	for _, k := range []string{"From", "To", "Cc", "Message-Id", "In-Reply-To", "References"} {
		if v := h.Get(k); v != "" {
			oh.Set(k, v)
		}
	}
	oh.Set("Date", time.Now().UTC().Truncate(24*time.Hour).Format(time.RFC1123Z))
	oh.Set("Subject", "...")
	return oh
}

// writeMinimalHeader writes the header of an already-encrypted message with
// the same minimal fields, plus its own MIME fields so the body still parses.
func writeMinimalHeader(w io.Writer, h textproto.Header) error {
	oh := outerHeader(h)
	for _, k := range []string{"MIME-Version", "Content-Type", "Content-Transfer-Encoding"} {
		if v := h.Get(k); v != "" {
			oh.Set(k, v)
		}
	}
	return textproto.WriteHeader(w, oh.Header)
}
