package airgap

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgp"
	"postern/mailbox/pgpmime"
)

// ReplyOptions describe a reply written on the air-gapped machine.
type ReplyOptions struct {
	Out    string // the folder Open wrote; the reply goes to Out/outbox
	Source string // the source's designation (or its folder name)
	Text   string
	Attach []string // paths of files to attach
	// Self are the journalist's own keys: the reply is encrypted to them too,
	// as Thunderbird does, so the newsroom can read it back from Sent. The
	// relay strips their key packets from what the source gets.
	Self openpgp.EntityList
	Now  time.Time // zero: now; only the day is used
}

// Reply writes a PGP/MIME reply to the source's latest submission into
// Out/outbox/<random>.eml, the way Thunderbird's Reply would: To the source,
// "Re: " the subject, In-Reply-To and References to the submission, a new
// random Message-ID, the date coarsened to the day, encrypted to the key of
// the source's Autocrypt header as it came inside the synced mail (never
// fetched from a network). It carries no signature, no name, no client
// header. It returns the path written.
func Reply(o ReplyOptions) (string, error) {
	t, err := LoadThread(o.Out, o.Source)
	if err != nil {
		return "", err
	}
	keyData, err := base64.StdEncoding.DecodeString(t.Autocrypt)
	if t.Autocrypt == "" || err != nil {
		return "", fmt.Errorf("reply: no key of %s in its submissions (no Autocrypt header)", t.Designation)
	}
	srcKey, _, err := pgp.ParsePublicKey(keyData)
	if err != nil {
		return "", fmt.Errorf("reply: the key of %s: %w", t.Designation, err)
	}
	var last *Entry
	for _, e := range t.ordered() {
		if e.Role == RoleSource {
			last = &e
		}
	}
	if last == nil {
		return "", fmt.Errorf("reply: %s has no submission to answer", t.Designation)
	}
	domain := "postern.invalid"
	if _, d, ok := strings.Cut(t.Address, "@"); ok {
		domain = d
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return "", err
	}
	msgID := hex.EncodeToString(id) + "@" + domain
	subject := last.Subject
	if !strings.HasPrefix(strings.ToLower(subject), "re:") {
		subject = "Re: " + subject
	}
	var refs []string
	if last.InReplyTo != "" {
		refs = append(refs, last.InReplyTo)
	}
	refs = append(refs, last.MessageID)
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	h := pgpmime.Header{
		FromAddr:     "newsroom@" + domain,
		To:           fmt.Sprintf("%q <%s>", t.Designation, t.Address),
		Subject:      subject,
		OuterSubject: "...", // Thunderbird's placeholder when the subject is encrypted
		MessageID:    msgID,
		InReplyTo:    last.MessageID,
		References:   refs,
		Date:         now,
	}
	to := append([]*openpgp.Entity{srcKey}, o.Self...)

	dir := filepath.Join(o.Out, "outbox")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, hex.EncodeToString(id[:8])+".eml")
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	err = writeReply(f, to, h, o)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("reply: %w", err)
	}
	t.add(Entry{Seq: 1 << 30, Role: RoleNewsroom, Day: now.UTC().Format("2006-01-02"), MessageID: msgID,
		InReplyTo: last.MessageID, Subject: subject, Text: o.Text, Outbox: true})
	if err := t.save(o.Out); err != nil {
		return path, err
	}
	return path, t.render(o.Out)
}

func writeReply(w io.Writer, to []*openpgp.Entity, h pgpmime.Header, o ReplyOptions) error {
	mw, err := pgpmime.NewWriter(w, to, h)
	if err != nil {
		return err
	}
	if err := mw.Text(o.Text); err != nil {
		return err
	}
	for _, p := range o.Attach {
		if err := attach(mw, p); err != nil {
			return err
		}
	}
	return mw.Close()
}

func attach(mw *pgpmime.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	ct := mime.TypeByExtension(filepath.Ext(path))
	fw, err := mw.File(filepath.Base(path), ct)
	if err != nil {
		return err
	}
	if _, err := io.Copy(fw, f); err != nil {
		return fmt.Errorf("attaching %s: %w", filepath.Base(path), err)
	}
	return nil
}
