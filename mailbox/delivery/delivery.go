// Package delivery turns one source submission into one PGP/MIME mail in
// every journalist's INBOX. Intake (the web form) and, later, the SMTP
// endpoint use the same contract, after maddy's: Start → body → Commit or
// Abort.
//
// Nothing persistent changes before Commit: the body streams, already
// encrypted, into a temp file in the store's blob directory, and plaintext
// never touches the disk. Commit makes the blob durable and then records it
// in every INBOX in one store transaction; that last step is small and
// practically never fails, so the source sees "received" only when the
// submission is safe, and a failure at any earlier instant leaves nothing
// behind.
package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/imap/structure"
	"postern/mailbox/pgp"
	"postern/mailbox/pgpmime"
	"postern/mailbox/store"
	"postern/mailbox/tally"
)

// ErrNoRecipients means there is no journalist to deliver to: the relay is
// not set up yet, or every journalist was removed.
var ErrNoRecipients = errors.New("delivery: no journalist to deliver to")

// Kinds of events counted in Options.Tally.
const (
	KindFailed  = "delivery: recording a submission failed"
	KindDiscard = "delivery: discarding the blob of a failed submission failed"
	KindRelease = "delivery: releasing pending submissions failed"
)

// ErrFinished means a Tx was used after Commit or Abort.
var ErrFinished = errors.New("delivery: transaction already finished")

// Options configure a Deliverer.
type Options struct {
	Store *store.Store
	// Domain is the relay's mail domain: the newsroom address and the
	// right-hand side of Message-IDs.
	Domain string
	// Tally counts failures. A Deliverer has no logger: every call is a
	// source's submission, and a line would carry its time. Nil counts
	// nothing.
	Tally *tally.Tally
	// ArchiveKey, when set, is an extra recipient of every submission (an
	// offline archive key held by the newsroom, never by the server).
	ArchiveKey *openpgp.Entity
	// Compress asks for ZLIB (level 1) inside the encryption: about 1.44x
	// the submitted bytes on disk instead of 1.89x, at ~200 MB/s. It
	// applies only when every recipient's key lists ZLIB.
	Compress bool
	// Window batches deliveries: a committed submission is stored,
	// encrypted and durable, as pending, and Run releases everything
	// pending into the mailboxes at each multiple of Window (UTC), in
	// random order. Whoever watches a mailbox then learns only that some
	// submissions came in a window, not when each came nor in what order.
	// Zero delivers at Commit.
	Window time.Duration
	// After is the clock Run waits on (time.After when nil); tests make
	// window boundaries happen when they want.
	After func(time.Duration) <-chan time.Time
}

// Deliverer starts deliveries. It is safe for concurrent use; each Tx is not.
type Deliverer struct {
	o Options
}

// New returns a Deliverer.
func New(o Options) *Deliverer {
	return &Deliverer{o: o}
}

// Submission says who submits. The body comes through the Tx.
type Submission struct {
	// Source is the stored source record: its ID owns the message, its
	// Designation and Address make the From, its ThreadID threads the mail.
	Source store.Source
	// SourceKey is the source's public reply key, sent in the Autocrypt
	// header and attached, so the journalist's client can encrypt replies.
	// Optional.
	SourceKey *openpgp.Entity
	// Subject is the source's subject; it goes only inside the encryption.
	// Empty means "Submission from <designation>".
	Subject string
}

// Tx is one delivery in progress. Its methods are for one goroutine. Any
// failure aborts it at once (the temp blob is removed) and every later call
// returns that failure; Abort is always safe, including after Commit.
type Tx struct {
	d     *Deliverer
	ctx   context.Context
	src   store.Source
	key   *openpgp.Entity
	names []string // journalists the mail is encrypted to
	blob  *store.BlobWriter
	meta  *metaTap // walks the mail's MIME structure as it is written, for IMAP
	// metaBytes is the encoded structure, cached with the message so IMAP
	// serves ENVELOPE, BODYSTRUCTURE and sections without walking the file.
	metaBytes []byte
	w         *pgpmime.Writer
	err       error // first failure; the blob is gone
	done      bool  // committed, aborted or failed
	// immediate skips the release window (StartCanary): it is no source's
	// submission.
	immediate bool
}

// Start prepares a delivery: it loads the key of every journalist on the
// source's desk, and no one else's, adds the
// archive key, and opens an encrypted stream into a new temp blob. A journalist
// whose stored key no longer passes the key rules (typically: it expired) is
// left out: one lapsed key must not stop every source's submissions. Nothing is
// logged here, since a line per submission would date it; the relay reports
// lapsed keys at start-up, daily and in `relay status`. With no usable key at
// all, Start returns ErrNoRecipients. ctx bounds the whole body: once it is
// done, writes fail and the Tx aborts.
func (d *Deliverer) Start(ctx context.Context, s Submission) (*Tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkSubmission(s); err != nil {
		return nil, err
	}
	// Only the source's desk: its journalists' keys and mailboxes are the
	// boundary (store/desk.go). The desk is read from the stored record, not
	// the caller's copy, which may predate `relay desk move`.
	cur, err := d.o.Store.Source(s.Source.ID)
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	desk, js, err := d.o.Store.DeskJournalists(cur.Desk)
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	if len(js) == 0 {
		return nil, ErrNoRecipients
	}
	to := make([]*openpgp.Entity, 0, len(js)+1)
	names := make([]string, 0, len(js))
	for _, j := range js {
		e, _, err := pgp.ParsePublicKey(j.PublicKey)
		if err != nil {
			continue // reported by the relay, not per submission
		}
		to = append(to, e)
		names = append(names, j.Name)
	}
	if len(names) == 0 {
		return nil, ErrNoRecipients
	}
	if d.o.ArchiveKey != nil {
		to = append(to, d.o.ArchiveKey)
	}
	msgID, err := d.messageID()
	if err != nil {
		return nil, err
	}
	designation := s.Source.Designation
	outer := "Submission from " + designation
	subject := s.Subject
	if subject == "" {
		subject = outer
	}
	h := pgpmime.Header{
		FromName:     designation,
		FromAddr:     s.Source.Address,
		To:           deskAddress(desk, d.o.Domain),
		Subject:      subject,
		OuterSubject: outer,
		MessageID:    msgID,
		Date:         time.Now(),
		Autocrypt:    s.SourceKey,
		Uncompressed: !d.o.Compress,
	}
	if s.Source.ThreadID != "" {
		h.InReplyTo = s.Source.ThreadID
		h.References = []string{s.Source.ThreadID}
	}

	blob, err := d.o.Store.NewBlob()
	if err != nil {
		return nil, fmt.Errorf("delivery: %w", err)
	}
	t := &Tx{d: d, ctx: ctx, src: s.Source, key: s.SourceKey, names: names, blob: blob, meta: newMetaTap()}
	w, err := pgpmime.NewWriter(ctxWriter{ctx: ctx, w: io.MultiWriter(blob, t.meta)}, to, h)
	if err != nil {
		t.meta.abort()
		blob.Abort()
		return nil, fmt.Errorf("delivery: %w", err)
	}
	t.w = w
	return t, nil
}

// deskAddress is the To of a submission: the desk's title and slug, so the
// journalist's client shows which desk a mail came to (Thunderbird's
// Recipient column, and a message filter can sort on it). The default desk
// gives what every submission had before desks: "Newsroom" <newsroom@…>.
//
// Every desk of a journalist arrives in their one INBOX rather than in a
// folder per desk: Thunderbird IDLEs on and notifies about INBOX only
// (mail.check_all_imap_folders_for_new is off by default), so mail in
// another folder would sit unseen until the journalist opened it, and each
// folder it watched would take one more of its (by default five) cached
// connections. One INBOX keeps the push and the new-mail alert; the To says
// the desk. A journalist who wants folders makes a filter on To.
func deskAddress(desk store.Desk, domain string) string {
	return (&mail.Address{Name: desk.Title, Address: desk.Slug + "@" + domain}).String()
}

// checkSubmission refuses what would make a broken or injected header. These
// values come from the store, so a failure here is a bug, not user input.
func checkSubmission(s Submission) error {
	if len(s.Source.ID) == 0 || s.Source.Designation == "" || s.Source.Address == "" {
		return errors.New("delivery: incomplete source record")
	}
	for _, v := range []string{s.Source.Designation, s.Source.Address, s.Source.ThreadID} {
		if strings.ContainsAny(v, "\r\n\x00") {
			return errors.New("delivery: control character in source record")
		}
	}
	return nil
}

// messageID returns a fresh random hex@domain (pgpmime adds the angle
// brackets): random so that it tells nothing about order, time or count of
// submissions.
func (d *Deliverer) messageID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("delivery: message id: %w", err)
	}
	return hex.EncodeToString(b) + "@" + d.o.Domain, nil
}

// Text adds the source's message as the text part.
func (t *Tx) Text(s string) error {
	if err := t.usable(); err != nil {
		return err
	}
	if err := t.w.Text(s); err != nil {
		return t.fail(err)
	}
	return nil
}

// File starts an attachment. The returned writer is valid until the next
// call on t; the name is sanitised by pgpmime and never logged here.
func (t *Tx) File(name, contentType string) (io.Writer, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	w, err := t.w.File(name, contentType)
	if err != nil {
		return nil, t.fail(err)
	}
	return fileWriter{t: t, w: w}, nil
}

// Commit finishes the mail, makes the blob durable and records it in the
// INBOX of every journalist it was encrypted to, in one store transaction.
// A journalist removed since Start is left out (the others still get the
// mail); a journalist added since Start gets nothing, since the mail is not
// encrypted to their key. With a Window the submission is recorded as
// pending instead, as durable, and Run releases it. On failure nothing
// remains.
func (t *Tx) Commit(ctx context.Context) error {
	if err := t.usable(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return t.fail(err)
	}
	if t.key != nil {
		if err := t.w.AttachKey(t.key); err != nil {
			return t.fail(err)
		}
	}
	if err := t.w.Close(); err != nil {
		return t.fail(err)
	}
	t.metaBytes = t.meta.finish()
	ref, err := t.blob.Commit()
	t.done = true
	if err != nil { // the store removed the temp file
		t.err = fmt.Errorf("delivery: %w", err)
		return t.err
	}
	record := t.deliver
	if t.d.o.Window > 0 && !t.immediate {
		record = t.hold
	}
	if err := record(ref); err != nil {
		if derr := t.d.o.Store.DiscardBlob(ref.ID); derr != nil {
			t.d.o.Tally.Add(KindDiscard, derr)
		}
		t.err = fmt.Errorf("delivery: %w", err)
		t.d.o.Tally.Add(KindFailed, err)
		return t.err
	}
	return nil
}

// hold records the blob as pending, for Run to release at the end of the
// window (Options.Window).
func (t *Tx) hold(ref store.BlobRef) error {
	return t.d.o.Store.AddPending(store.Delivery{Blob: ref, SourceID: t.src.ID,
		Journalists: t.names, Meta: t.metaBytes})
}

// Run releases pending submissions into the mailboxes at every window
// boundary until ctx ends. With no window it releases, once, what a run
// with a window left pending (the relay was restarted with batching
// turned off), and returns.
func (d *Deliverer) Run(ctx context.Context) {
	if d.o.Window <= 0 {
		d.release()
		return
	}
	after := d.o.After
	if after == nil {
		after = time.After
	}
	for {
		now := time.Now()
		select {
		case <-ctx.Done():
			return
		case <-after(now.Truncate(d.o.Window).Add(d.o.Window).Sub(now)):
			d.release()
		}
	}
}

// release moves every pending submission into the mailboxes. A failure is
// counted; what stays pending goes at the next boundary.
func (d *Deliverer) release() {
	if _, err := d.o.Store.ReleasePending(); err != nil {
		d.o.Tally.Add(KindRelease, err)
	}
}

// deliver records the blob. If a journalist disappeared since Start, the
// store refuses the whole delivery with ErrNotFound; then it retries with
// the journalists that are left, a bounded number of times.
func (t *Tx) deliver(ref store.BlobRef) error {
	const tries = 3
	for i := 0; ; i++ {
		err := t.d.o.Store.Deliver(store.Delivery{Blob: ref, SourceID: t.src.ID,
			Journalists: t.names, Mailbox: "INBOX", Meta: t.metaBytes})
		if err == nil || !errors.Is(err, store.ErrNotFound) || i == tries-1 {
			return err
		}
		js, jerr := t.d.o.Store.Journalists()
		if jerr != nil {
			return err
		}
		left := remaining(t.names, js)
		if len(left) == len(t.names) {
			return err // not a removed journalist (the source itself?)
		}
		if len(left) == 0 {
			return ErrNoRecipients
		}
		t.names = left
	}
}

// remaining returns the names that are still journalists, in order.
func remaining(names []string, js []store.Journalist) []string {
	now := make(map[string]bool, len(js))
	for _, j := range js {
		now[j.Name] = true
	}
	var left []string
	for _, n := range names {
		if now[n] {
			left = append(left, n)
		}
	}
	return left
}

// Abort drops the delivery and removes its temp blob. It is a no-op after
// Commit, after a failure and when called twice, so it is fit for defer.
func (t *Tx) Abort() {
	if t.done {
		return
	}
	t.done = true
	t.err = ErrFinished
	t.meta.abort()
	t.blob.Abort()
}

func (t *Tx) usable() error {
	if t.err != nil {
		return t.err
	}
	if t.done {
		return ErrFinished
	}
	if err := t.ctx.Err(); err != nil {
		return t.fail(err)
	}
	return nil
}

// fail aborts the Tx with err and returns it; later calls return it too.
func (t *Tx) fail(err error) error {
	if t.err != nil {
		return t.err
	}
	if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("delivery: %w", err)
	}
	t.meta.abort()
	t.blob.Abort()
	t.done = true
	t.err = err
	return err
}

// fileWriter is the writer File returns: it checks the Tx before each write
// and aborts it on the first error.
type fileWriter struct {
	t *Tx
	w io.Writer
}

func (f fileWriter) Write(p []byte) (int, error) {
	if err := f.t.usable(); err != nil {
		return 0, err
	}
	n, err := f.w.Write(p)
	if err != nil {
		return n, f.t.fail(err)
	}
	return n, nil
}

// ctxWriter stops the ciphertext stream into the blob once ctx is done, so a
// source that disconnects mid-upload stops costing disk.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// metaTap computes the IMAP structure of the mail (mailbox/imap/structure)
// from the ciphertext stream as it goes to the blob, so the whole file is not
// read a second time. A failure only loses the cache: IMAP then walks the file
// itself at the first fetch.
type metaTap struct{ *structure.Tap }

func newMetaTap() *metaTap { return &metaTap{structure.NewTap()} }

// finish ends the stream and returns the encoded structure (nil if it failed).
func (m *metaTap) finish() []byte {
	st, err := m.Finish()
	if err != nil {
		return nil
	}
	meta, err := st.Encode()
	if err != nil {
		return nil
	}
	return meta
}

// abort ends the stream and lets the walker go.
func (m *metaTap) abort() { m.Abort() }
