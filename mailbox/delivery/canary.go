package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgpmime"
	"postern/mailbox/store"
)

// StartCanary starts relay selftest's canary: a PGP/MIME mail encrypted to
// key alone, for the hidden system account owner alone, from no source.
// It takes the path of every submission (an encrypted stream into a temp
// blob, Commit makes it durable and records it in one transaction) except
// any release window: it is no source's submission, and a monitor cannot
// wait for a window. Nothing is counted or logged.
func (d *Deliverer) StartCanary(ctx context.Context, owner string, key *openpgp.Entity) (*Tx, error) {
	if owner == "" || key == nil {
		return nil, errors.New("delivery: canary needs an owner and a key")
	}
	msgID, err := d.messageID()
	if err != nil {
		return nil, err
	}
	h := pgpmime.Header{
		FromName:     "Postern selftest",
		FromAddr:     "selftest@" + d.o.Domain,
		To:           `"Newsroom" <newsroom@` + d.o.Domain + `>`,
		Subject:      "selftest",
		OuterSubject: "selftest",
		MessageID:    msgID,
		Date:         time.Now(),
		Uncompressed: true,
	}
	blob, err := d.o.Store.NewBlob()
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	t := &Tx{d: d, ctx: ctx, src: store.Source{}, names: []string{owner}, blob: blob, meta: newMetaTap(), immediate: true}
	w, err := pgpmime.NewWriter(ctxWriter{ctx: ctx, w: io.MultiWriter(blob, t.meta)}, []*openpgp.Entity{key}, h)
	if err != nil {
		t.meta.abort()
		blob.Abort()
		return nil, fmt.Errorf("delivery: %w", err)
	}
	t.w = w
	return t, nil
}
