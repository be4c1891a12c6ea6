package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"postern/mailbox/delivery"
	"postern/mailbox/store"
)

// Deliverer is what the form needs of mailbox/delivery: *delivery.Deliverer
// satisfies it. It is an interface only so that tests can wrap it.
type Deliverer interface {
	Start(ctx context.Context, s delivery.Submission) (*delivery.Tx, error)
}

// startDelivery starts the delivery of one submission. The source key given
// to the delivery (for the Autocrypt header and the attached key) is read
// back from the stored public key, so no private scalar of the session
// leaves this package.
func (s *Server) startDelivery(ctx context.Context, src store.Source, subject string) (*delivery.Tx, error) {
	pub, err := openpgp.ReadEntity(packet.NewReader(bytes.NewReader(src.PublicKey)))
	if err != nil {
		return nil, fmt.Errorf("web: stored source key: %w", err)
	}
	tx, err := s.o.Deliverer.Start(ctx, delivery.Submission{Source: src, SourceKey: pub, Subject: subject})
	if err != nil {
		return nil, errors.Join(errDelivery, err)
	}
	return tx, nil
}
