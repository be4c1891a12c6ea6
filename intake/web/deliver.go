package web

import (
	"context"
	"errors"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/store"
)

// TODO(intake): replace with mailbox/delivery's types once it lands.

// Tx is one submission's delivery: nothing persists before Commit.
type Tx interface {
	Text(s string) error
	File(name, contentType string) (io.Writer, error)
	Commit() error
	Abort() error
}

type submissionTx = Tx

// Deliverer starts deliveries.
type Deliverer interface {
	StartSubmission(ctx context.Context, src store.Source, key *openpgp.Entity, subject string) (Tx, error)
}

var errBusy = errors.New("web: delivery busy")

type sourceSnapshot struct {
	src store.Source
	key *openpgp.Entity
}

func (s *Server) startDelivery(ctx context.Context, src sourceSnapshot, subject string) (Tx, error) {
	tx, err := s.o.Deliverer.StartSubmission(ctx, src.src, src.key, subject)
	if err != nil {
		return nil, errors.Join(errDelivery, err)
	}
	return tx, nil
}
