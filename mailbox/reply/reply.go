// Package reply turns a journalist's reply, as received by the SMTP
// endpoint, into what the source reads in the codename inbox, and tells
// the other journalists about it.
//
// A plaintext reply is taken apart (text, files) and re-encrypted to the
// source's reply key at once; the plaintext lives only in memory, bounded by
// the SMTP size cap, and is overwritten when done. A reply already encrypted
// to the source's key is stored with its ciphertext untouched but in a new
// envelope: the relay rebuilds the outer header and drops the session-key
// packets of every other recipient, so neither a header nor a key id tells
// the source (or whoever seizes the server) which journalist wrote it.
//
// The other journalists of the source's desk get a copy in the source's
// thread, encrypted to the desk: the reply itself when the relay had the plaintext, else a short
// notice that the source was answered.
package reply

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgp"
	"postern/mailbox/pgpmime"
	"postern/mailbox/store"
	"postern/mailbox/tally"
)

// Options configure a Processor.
type Options struct {
	Store *store.Store
	// Domain is the relay's mail domain (newsroom@Domain, Message-IDs).
	Domain string
	// OrgName is the newsroom's name: the source sees replies as coming
	// from the newsroom, never from a named journalist. Default "Newsroom".
	OrgName string
	// Tally counts failures. A Processor has no logger: every call is a
	// journalist's reply to a source, and a line would carry its time.
	Tally *tally.Tally
	// ArchiveKey, when set, is an extra recipient of the team's copy, as
	// it is of every submission (mailbox/delivery).
	ArchiveKey *openpgp.Entity
	// Now is the clock (default time.Now); dates are coarsened to the day.
	Now func() time.Time
}

// Processor stores replies. It is safe for concurrent use.
type Processor struct {
	o Options
}

// Kinds of events counted in Options.Tally.
const (
	KindTeamCopy = "reply: the team's copy of a reply was not delivered"
	KindDiscard  = "reply: discarding an unreferenced blob failed"
)

// New checks o and returns a Processor.
func New(o Options) (*Processor, error) {
	if o.Store == nil {
		return nil, errors.New("reply: Options.Store is required")
	}
	if o.Domain == "" || strings.ContainsAny(o.Domain, " \t\r\n<>@\"") {
		return nil, errors.New("reply: Options.Domain is required and must be a bare domain")
	}
	if o.OrgName == "" {
		o.OrgName = "Newsroom"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Processor{o: o}, nil
}

// Reply is one reply to process.
type Reply struct {
	Journalist string       // the authenticated sender's name
	Source     store.Source // the recipient, from store.SourceByAddress
	Message    []byte       // the message as received (CRLF), plaintext in memory
	// Dedup, if set, names the reply for store.Reply.Dedup: a reply the
	// source already has under it is not stored again, and Process returns
	// nil, as if it had been (the sender's client must not retry it).
	Dedup []byte
}

// Process stores r for its source and delivers the team's copy. A refusal
// (see Refusal) means nothing was stored. Once the source's reply is
// stored Process returns nil even if the team's copy failed (that is
// counted in the tally): the journalist must not resend a reply the source already has.
func (p *Processor) Process(ctx context.Context, r Reply) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if seen, err := p.o.Store.HasReply(r.Source.ID, r.Dedup); err != nil || seen {
		return err
	}
	srcKey, _, err := pgp.ParsePublicKey(r.Source.PublicKey)
	if err != nil {
		return fmt.Errorf("reply: source key: %w", err)
	}
	parsed, err := Parse(r.Message)
	if err != nil {
		return err
	}
	defer parsed.Wipe()

	var (
		source func(w io.Writer) error // writes the source's message, encrypted
		team   func(w io.Writer, to []*openpgp.Entity) error
	)
	switch parsed.Kind {
	case Plain:
		source = func(w io.Writer) error { return p.writePlain(w, srcKey, r.Source, parsed) }
		team = func(w io.Writer, to []*openpgp.Entity) error {
			return p.writeTeamCopy(w, to, r, parsed)
		}
	default:
		ct, err := keepRecipients(parsed.Ciphertext, pgp.KeyIDs(srcKey))
		if err != nil {
			return err
		}
		source = func(w io.Writer) error {
			// Not ours to pad inside: lines of spaces after its end make
			// its size a Padmé length, as every stored message's.
			pw := &pgpmime.PadWriter{W: w}
			if err := p.writeEncrypted(pw, r.Source, parsed.Kind, ct); err != nil {
				return err
			}
			return pw.Pad()
		}
		team = func(w io.Writer, to []*openpgp.Entity) error {
			return p.writeTeamCopy(w, to, r, nil)
		}
	}

	ref, err := p.commitBlob(source)
	if err != nil {
		return err
	}
	if _, err := p.o.Store.AddReply(store.Reply{SourceID: r.Source.ID, Blob: ref, Dedup: r.Dedup}); err != nil {
		p.discard(ref)
		if errors.Is(err, store.ErrDuplicate) {
			return nil // the same reply, sent twice at once
		}
		return fmt.Errorf("reply: store: %w", err)
	}
	if err := p.deliverCopy(ctx, r, team); err != nil {
		p.o.Tally.Add(KindTeamCopy, err)
	}
	return nil
}

// commitBlob streams what write produces, which is ciphertext (the
// encryption happens inside write), into a new durable blob.
func (p *Processor) commitBlob(write func(io.Writer) error) (store.BlobRef, error) {
	w, err := p.o.Store.NewBlob()
	if err != nil {
		return store.BlobRef{}, fmt.Errorf("reply: %w", err)
	}
	if err := write(w); err != nil {
		w.Abort()
		return store.BlobRef{}, err
	}
	ref, err := w.Commit()
	if err != nil {
		return store.BlobRef{}, fmt.Errorf("reply: %w", err)
	}
	return ref, nil
}

func (p *Processor) discard(ref store.BlobRef) {
	if err := p.o.Store.DiscardBlob(ref.ID); err != nil {
		p.o.Tally.Add(KindDiscard, err)
	}
}

// deliverCopy writes the team's copy, encrypted to every journalist of the
// source's desk whose key is usable, into the INBOX of each of them but the
// sender, threaded under the source's submissions. No one off the desk gets
// it: the desk is the boundary (store/desk.go).
func (p *Processor) deliverCopy(ctx context.Context, r Reply, write func(io.Writer, []*openpgp.Entity) error) error {
	src, err := p.o.Store.Source(r.Source.ID)
	if err != nil {
		return err
	}
	_, js, err := p.o.Store.DeskJournalists(src.Desk)
	if err != nil {
		return err
	}
	var (
		to     []*openpgp.Entity
		others []string
	)
	for _, j := range js {
		e, _, err := pgp.ParsePublicKey(j.PublicKey)
		if err != nil {
			continue // a lapsed key: reported by the relay, not per reply
		}
		to = append(to, e)
		if j.Name != r.Journalist {
			others = append(others, j.Name)
		}
	}
	if len(others) == 0 {
		return nil
	}
	if p.o.ArchiveKey != nil {
		to = append(to, p.o.ArchiveKey)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ref, err := p.commitBlob(func(w io.Writer) error { return write(w, to) })
	if err != nil {
		return err
	}
	if err := p.o.Store.Deliver(store.Delivery{Blob: ref, SourceID: r.Source.ID,
		Journalists: others, Mailbox: "INBOX"}); err != nil {
		p.discard(ref)
		return err
	}
	return nil
}

// newsroom is the From of everything the source gets.
func (p *Processor) newsroomAddr() string { return "newsroom@" + p.o.Domain }

func (p *Processor) messageID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reply: message id: %w", err)
	}
	return hex.EncodeToString(b) + "@" + p.o.Domain, nil
}

// header is the pgpmime header of a message in the source's thread.
func (p *Processor) header(src store.Source, subject, outer string) (pgpmime.Header, error) {
	id, err := p.messageID()
	if err != nil {
		return pgpmime.Header{}, err
	}
	h := pgpmime.Header{
		FromName:     p.o.OrgName,
		FromAddr:     p.newsroomAddr(),
		To:           fmt.Sprintf("%q <%s>", src.Designation, src.Address),
		Subject:      subject,
		OuterSubject: outer,
		MessageID:    id,
		Date:         p.o.Now(),
	}
	if src.ThreadID != "" {
		h.InReplyTo = src.ThreadID
		h.References = []string{src.ThreadID}
	}
	return h, nil
}

// writePlain encrypts a plaintext reply's text and files to the source.
func (p *Processor) writePlain(w io.Writer, key *openpgp.Entity, src store.Source, r *Parsed) error {
	subject := r.Subject
	if subject == "" {
		subject = "Reply from " + p.o.OrgName
	}
	h, err := p.header(src, subject, "Reply from "+p.o.OrgName)
	if err != nil {
		return err
	}
	return writeParts(w, []*openpgp.Entity{key}, h, StripSignature(r.Text), r.Attachments)
}

// StripSignature cuts the text at the signature separator ("-- " on a line
// of its own, RFC 3676): mail clients append the journalist's signature
// block (name, desk, phone) on their own, and it would tell the source who
// wrote. What the journalist typed above it stays; the team's copy keeps
// everything.
func StripSignature(text string) string {
	if strings.HasPrefix(text, "-- \n") || text == "-- " {
		return ""
	}
	if i := strings.Index(text, "\n-- \n"); i >= 0 {
		return strings.TrimRight(text[:i], "\n") + "\n"
	}
	if strings.HasSuffix(text, "\n-- ") {
		return strings.TrimRight(strings.TrimSuffix(text, "\n-- "), "\n") + "\n"
	}
	return text
}

// writeTeamCopy writes the team's copy: the reply itself when r is not nil,
// else the notice that the source was answered with a message the relay
// could not read.
func (p *Processor) writeTeamCopy(w io.Writer, to []*openpgp.Entity, rep Reply, r *Parsed) error {
	d := rep.Source.Designation
	subject := "Reply to " + d
	var (
		text  string
		files []Attachment
	)
	if r == nil {
		text = fmt.Sprintf("%s was answered by %s, encrypted to the source only.\n", d, rep.Journalist)
	} else {
		text = fmt.Sprintf("%s was answered by %s:\n\n%s", d, rep.Journalist, r.Text)
		files = r.Attachments
		if r.Subject != "" {
			subject = r.Subject
		}
	}
	h, err := p.header(rep.Source, subject, "Reply to "+d)
	if err != nil {
		return err
	}
	return writeParts(w, to, h, text, files)
}

func writeParts(w io.Writer, to []*openpgp.Entity, h pgpmime.Header, text string, files []Attachment) error {
	mw, err := pgpmime.NewWriter(w, to, h)
	if err != nil {
		return fmt.Errorf("reply: %w", err)
	}
	if err := mw.Text(text); err != nil {
		return fmt.Errorf("reply: %w", err)
	}
	for _, f := range files {
		fw, err := mw.File(f.Name, f.ContentType)
		if err != nil {
			return fmt.Errorf("reply: %w", err)
		}
		if _, err := fw.Write(f.Data); err != nil {
			return fmt.Errorf("reply: %w", err)
		}
	}
	if err := mw.Close(); err != nil {
		return fmt.Errorf("reply: %w", err)
	}
	return nil
}
