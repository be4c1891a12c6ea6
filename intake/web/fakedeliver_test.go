package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgp"
	"postern/mailbox/store"
)

// testDeliverer stands in for mailbox/delivery until it lands: it encrypts
// a simple framing of the text and files to the journalist and delivers the
// blob. It records what it saw so tests can compare.
type testDeliverer struct {
	st   *store.Store
	to   *openpgp.Entity
	mu   sync.Mutex
	log  []delivered
	fail error // when set, Commit fails with it
}

type delivered struct {
	subject string
	text    string
	files   []string
	sizes   []int64
}

func newTestDeliverer(st *store.Store, to *openpgp.Entity) *testDeliverer {
	return &testDeliverer{st: st, to: to}
}

func (d *testDeliverer) StartSubmission(ctx context.Context, src store.Source, key *openpgp.Entity, subject string) (Tx, error) {
	if src.Fingerprint != fingerprint(key) {
		return nil, errors.New("test deliverer: key does not match source")
	}
	bw, err := d.st.NewBlob()
	if err != nil {
		return nil, err
	}
	enc, err := pgp.Encrypt(bw, []*openpgp.Entity{d.to}, pgp.EncryptOptions{})
	if err != nil {
		bw.Abort()
		return nil, err
	}
	fmt.Fprintf(enc, "Subject: %s\n", subject)
	return &testTx{d: d, src: src, bw: bw, enc: enc, rec: delivered{subject: subject}}, nil
}

func (d *testDeliverer) deliveries() []delivered {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]delivered(nil), d.log...)
}

type testTx struct {
	d   *testDeliverer
	src store.Source
	bw  *store.BlobWriter
	enc io.WriteCloser
	rec delivered
}

func (t *testTx) Text(s string) error {
	t.rec.text = s
	_, err := fmt.Fprintf(t.enc, "Text: %s\n", s)
	return err
}

type countWriter struct {
	w io.Writer
	n *int64
}

func (c countWriter) Write(p []byte) (int, error) {
	*c.n += int64(len(p))
	return c.w.Write(p)
}

func (t *testTx) File(name, ctype string) (io.Writer, error) {
	t.rec.files = append(t.rec.files, name)
	t.rec.sizes = append(t.rec.sizes, 0)
	fmt.Fprintf(t.enc, "File: %q\n", name)
	return countWriter{t.enc, &t.rec.sizes[len(t.rec.sizes)-1]}, nil
}

func (t *testTx) Commit() error {
	if t.d.fail != nil {
		t.bw.Abort()
		return t.d.fail
	}
	if err := t.enc.Close(); err != nil {
		t.bw.Abort()
		return err
	}
	ref, err := t.bw.Commit()
	if err != nil {
		return err
	}
	if err := t.d.st.Deliver(store.Delivery{Blob: ref, SourceID: t.src.ID}); err != nil {
		t.d.st.DiscardBlob(ref.ID)
		return err
	}
	t.d.mu.Lock()
	t.d.log = append(t.d.log, t.rec)
	t.d.mu.Unlock()
	return nil
}

func (t *testTx) Abort() error { return t.bw.Abort() }
