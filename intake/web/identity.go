package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/ecdh"
	"github.com/ProtonMail/go-crypto/openpgp/eddsa"

	"postern/intake/codename"
	"postern/mailbox/pgp"
	"postern/mailbox/store"
)

// state is what a session holds for a source: the identity derived from the
// codename (never the codename), the reply key once needed, and the source
// record once it exists. It lives in memory only and is wiped when the
// session ends.
type state struct {
	lang int // chosen language index, -1 when none was chosen
	id   codename.Identity
	key  *openpgp.Entity // private reply key; nil until first needed
	src  *store.Source   // nil until the first submission (or a login)
	desk string          // desk chosen by a per-desk link, for the first submission (desk.go)
}

// Wipe zeroes the derived secrets: the source id, the reply seed and the
// private scalars inside the reply key. Go cannot promise that no copy
// survives elsewhere in the heap, but nothing we hold keeps one alive.
func (st *state) Wipe() {
	clear(st.id.SourceID[:])
	clear(st.id.ReplySeed[:])
	wipeEntity(st.key)
	st.key = nil
	st.src = nil
	st.desk = ""
}

func wipeEntity(e *openpgp.Entity) {
	if e == nil {
		return
	}
	keys := []any{}
	if e.PrivateKey != nil {
		keys = append(keys, e.PrivateKey.PrivateKey)
	}
	for _, sk := range e.Subkeys {
		if sk.PrivateKey != nil {
			keys = append(keys, sk.PrivateKey.PrivateKey)
		}
	}
	for _, k := range keys {
		switch k := k.(type) {
		case *eddsa.PrivateKey:
			clear(k.D)
		case *ecdh.PrivateKey:
			clear(k.D)
		}
	}
}

// userID is the reply key's user ID. The fingerprint does not depend on it,
// so a login re-derives the same key from the stored record.
func userID(src *store.Source) string {
	return fmt.Sprintf("%s <%s>", src.Designation, src.Address)
}

// fingerprint is how this package compares keys: upper-case hex of the v4
// primary key fingerprint, the format pgp.KeyInfo uses.
func fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

// replyKey returns the session's private reply key, deriving it on first
// use. Call with the session locked and st.src set.
func (st *state) replyKey() (*openpgp.Entity, error) {
	if st.key != nil {
		return st.key, nil
	}
	if st.src == nil {
		return nil, errors.New("web: reply key before source exists")
	}
	e, err := pgp.DeriveKey(st.id.ReplySeed[:], userID(st.src))
	if err != nil {
		return nil, fmt.Errorf("web: derive reply key: %w", err)
	}
	st.key = e
	return e, nil
}

// errUnknown is a codename with no source, or whose key does not match.
// Both get the same page: "that codename was not recognised".
var errUnknown = errors.New("web: codename not recognised")

// designationTries bounds the search for a free designation. Two EFF words
// give 60 million pairs; a collision more than a few times in a row means
// something else is wrong.
const designationTries = 20

// ensureSource creates the source record on the first submission, on desk:
// the account exists only once a source has actually sent something, so an
// abandoned or replaced codename leaves nothing behind. Call with the
// session locked.
func (s *Server) ensureSource(st *state, desk string) error {
	if st.src != nil {
		return nil
	}
	// A parallel request of the same identity in another session may have
	// created it (two tabs after one login): take it.
	if src, err := s.o.Store.Source(st.id.SourceID[:]); err == nil {
		return s.adopt(st, src)
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("web: look up source: %w", err)
	}
	var thread [16]byte
	rand.Read(thread[:])
	for range designationTries {
		d, err := codename.NewDesignation()
		if err != nil {
			return fmt.Errorf("web: designation: %w", err)
		}
		src := store.Source{
			ID:          append([]byte(nil), st.id.SourceID[:]...),
			Designation: d,
			Address:     strings.ReplaceAll(d, " ", ".") + "@" + s.o.Domain,
			ThreadID:    "<" + hex.EncodeToString(thread[:]) + "@" + s.o.Domain + ">",
			Created:     day(s.now()),
			LastActive:  day(s.now()),
			Desk:        desk,
		}
		key, err := pgp.DeriveKey(st.id.ReplySeed[:], userID(&src))
		if err != nil {
			return fmt.Errorf("web: derive reply key: %w", err)
		}
		src.PublicKey = pgp.Serialize(key)
		src.Fingerprint = fingerprint(key)
		err = s.o.Store.CreateSource(src)
		if err == nil {
			wipeEntity(st.key)
			st.key, st.src = key, &src
			return nil
		}
		wipeEntity(key)
		if !errors.Is(err, store.ErrExists) {
			return fmt.Errorf("web: create source: %w", err)
		}
		// ErrExists: the designation or address is taken (or, in a race,
		// the id): check the id, else try another designation.
		if src, err := s.o.Store.Source(st.id.SourceID[:]); err == nil {
			return s.adopt(st, src)
		}
	}
	return errors.New("web: no free designation")
}

// adopt attaches an existing source record to a session after checking that
// the key derived from the session's seed is the one on record.
func (s *Server) adopt(st *state, src store.Source) error {
	key, err := pgp.DeriveKey(st.id.ReplySeed[:], userID(&src))
	if err != nil {
		return fmt.Errorf("web: derive reply key: %w", err)
	}
	if !strings.EqualFold(fingerprint(key), src.Fingerprint) {
		wipeEntity(key)
		return errUnknown
	}
	wipeEntity(st.key)
	st.key, st.src = key, &src
	return nil
}

// login derives the identity of a normalised codename and finds its source.
// An unknown codename costs the same KDF work as a known one, so the only
// timing difference is a cheap key derivation and a lookup.
func (s *Server) login(ctx context.Context, normalized string) (*state, error) {
	id, err := codename.Derive(ctx, s.o.Pool, normalized, s.o.Salt, s.o.KDF)
	if err != nil {
		return nil, err
	}
	st := &state{lang: -1, id: id}
	src, err := s.o.Store.Source(id.SourceID[:])
	if errors.Is(err, store.ErrNotFound) {
		st.Wipe()
		return nil, errUnknown
	}
	if err != nil {
		st.Wipe()
		return nil, fmt.Errorf("web: look up source: %w", err)
	}
	if err := s.adopt(st, src); err != nil {
		st.Wipe()
		return nil, err
	}
	return st, nil
}
