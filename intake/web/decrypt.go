package web

import (
	"errors"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/store"
)

// TODO(intake): pgpmime.Decrypt has not landed yet.
type decryptedPart struct {
	Name, ContentType string
	Size              int64
}

type decrypted struct {
	Text, Subject string
	Parts         []decryptedPart
}

func (d *decrypted) Open(i int) (io.Reader, error) { return nil, errors.New("not yet") }

func (s *Server) decryptReply(rep store.Reply, key *openpgp.Entity) (*decrypted, error) {
	return nil, errors.New("web: decrypt: not yet")
}
