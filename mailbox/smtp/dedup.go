package smtpd

import (
	"bufio"
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"net/textproto"
	"strings"
)

// dedupInfo labels the key that turns Message-IDs into dedup keys.
const dedupInfo = "postern smtp: reply Message-ID dedup v1"

// dedupKey derives the key of replyDedup from the instance salt: the same
// on every start, different on every instance.
func dedupKey(salt []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, salt, nil, dedupInfo, 32)
}

// replyDedup names a reply by its Message-ID for the relay's "already
// stored" check (the offline reader may send the same outbox twice). It is
// HMAC-SHA256 under an instance key of the source id and the Message-ID, so
// the store keeps no header value: only a guess of the exact Message-ID
// (random in every client that matters) could be tested against it, and
// only by someone holding the database. A message without a Message-ID
// gets nil: no deduplication.
func (s *Server) replyDedup(sourceID, msg []byte) []byte {
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(msg))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return nil
	}
	ids := h.Values("Message-Id")
	if len(ids) != 1 {
		return nil
	}
	id := strings.TrimSpace(ids[0])
	if id == "" {
		return nil
	}
	m := hmac.New(sha256.New, s.dedup)
	m.Write(sourceID)
	m.Write([]byte{0})
	m.Write([]byte(id))
	return m.Sum(nil)
}
