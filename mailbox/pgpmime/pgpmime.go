// Package pgpmime writes and reads RFC 3156 PGP/MIME mail as a stream.
package pgpmime

import (
	"errors"
	"io"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Header describes the mail. Subject is protected: it appears only inside
// the encryption.
type Header struct {
	FromName, FromAddr, To string
	Subject                string
	OuterSubject           string
	MessageID, InReplyTo   string
	References             []string
	Date                   time.Time
	Autocrypt              *openpgp.Entity
}

// Writer streams one PGP/MIME message.
type Writer struct{}

// NewWriter starts a message to w encrypted to the recipients.
func NewWriter(w io.Writer, to []*openpgp.Entity, h Header) (*Writer, error) {
	return nil, errors.New("pgpmime: not implemented")
}

// Text adds the text/plain part.
func (w *Writer) Text(s string) error { return errors.New("pgpmime: not implemented") }

// File starts an attachment part.
func (w *Writer) File(name, contentType string) (io.Writer, error) {
	return nil, errors.New("pgpmime: not implemented")
}

// AttachKey adds an application/pgp-keys part.
func (w *Writer) AttachKey(e *openpgp.Entity) error { return errors.New("pgpmime: not implemented") }

// Close finishes the message.
func (w *Writer) Close() error { return errors.New("pgpmime: not implemented") }

// Part describes one attachment of a decrypted message.
type Part struct {
	Name, ContentType string
	Size              int64
}

// Decrypted is a decrypted message.
type Decrypted struct {
	Text    string
	Subject string
	Parts   []Part
}

// Decrypt reads and decrypts a PGP/MIME (or inline armored) message.
func Decrypt(r io.Reader, keys openpgp.EntityList) (*Decrypted, error) {
	return nil, errors.New("pgpmime: not implemented")
}

// Open returns the content of attachment i.
func (d *Decrypted) Open(i int) (io.Reader, error) { return nil, errors.New("pgpmime: not implemented") }
