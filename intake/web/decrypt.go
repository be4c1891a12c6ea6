package web

import (
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgpmime"
	"postern/mailbox/store"
)

// decryptReply opens a reply blob and decrypts it with the session's reply
// key. pgpmime checks integrity before returning anything and bounds the
// decrypted size.
func (s *Server) decryptReply(rep store.Reply, key *openpgp.Entity) (*pgpmime.Decrypted, error) {
	f, err := s.o.Store.OpenBlob(rep.Blob.ID)
	if err != nil {
		return nil, fmt.Errorf("web: open reply: %w", err)
	}
	defer f.Close()
	d, err := pgpmime.Decrypt(f, openpgp.EntityList{key})
	if err != nil {
		return nil, fmt.Errorf("web: decrypt reply: %w", err)
	}
	return d, nil
}
