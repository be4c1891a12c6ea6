package admin

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"io"
	"strings"

	"postern/mailbox/kdf"
	"postern/mailbox/pgp"
	"postern/mailbox/store"
	"postern/relay/backup"
)

// PassphraseWords is the length of generated journalist passphrases: seven
// EFF words, about 90 bits. Journalists never choose their own.
const PassphraseWords = 7

// onionB32 is Tor's encoding of v3 client-authorisation keys.
var onionB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// JournalistInfo is what may be shown about a journalist: nothing secret.
type JournalistInfo struct {
	Name            string `json:"name"`
	Fingerprint     string `json:"fingerprint"`
	KeyExpires      string `json:"key_expires,omitempty"` // YYYY-MM-DD; empty = never
	Created         string `json:"created"`               // YYYY-MM-DD
	OnionAuthPublic string `json:"onion_auth_public"`     // base32 x25519, for the journalist onion
}

func infoOf(j store.Journalist) JournalistInfo {
	return JournalistInfo{
		Name:            j.Name,
		Fingerprint:     j.Fingerprint,
		KeyExpires:      day(j.KeyExpires),
		Created:         day(j.Created),
		OnionAuthPublic: j.OnionAuthPublic,
	}
}

// JournalistAdded carries the secrets made for a new journalist. They are
// returned once and never stored: only a hash of the passphrase and the
// public half of the onion key are kept.
type JournalistAdded struct {
	Journalist JournalistInfo `json:"journalist"`
	Passphrase string         `json:"passphrase"`
	// OnionAuthPrivate is the x25519 private key (base32) the journalist's
	// Tor client needs to reach the journalist onion.
	OnionAuthPrivate string `json:"onion_auth_private"`
	// JournalistOnion is the onion the key opens ("" until serve has run).
	JournalistOnion string `json:"journalist_onion"`
}

// NewPassphrase is the result of JournalistPasswd.
type NewPassphrase struct {
	Name       string `json:"name"`
	Passphrase string `json:"passphrase"`
}

// Ops is the set of admin operations, implemented by *Admin (directly on the
// store) and by the control-socket client (through a running daemon).
type Ops interface {
	JournalistAdd(ctx context.Context, name string, key []byte) (JournalistAdded, error)
	JournalistList(ctx context.Context) ([]JournalistInfo, error)
	JournalistRemove(ctx context.Context, name string) error
	JournalistPasswd(ctx context.Context, name string) (NewPassphrase, error)
	JournalistSetKey(ctx context.Context, name string, key []byte) (JournalistInfo, error)
	JournalistOnionKey(ctx context.Context, name string) (OnionKey, error)
	JournalistOnboard(ctx context.Context, name string) (Onboarding, error)
	Status(ctx context.Context) (Status, error)
	// Sources, compaction and backups (source.go, retention.go, backup.go).
	SourceList(ctx context.Context) ([]SourceInfo, error)
	SourceDelete(ctx context.Context, designation string) (SourceDeleted, error)
	SourcePrune(ctx context.Context, inactiveDays int) (Pruned, error)
	Compact(ctx context.Context) (Compacted, error)
	Backup(ctx context.Context, w io.Writer, plan func(backup.Plan)) error
	// Desks (desk.go).
	Desk(ctx context.Context, req DeskRequest) (DeskResult, error)
}

var _ Ops = (*Admin)(nil)

// parseKey validates a journalist's public key with mailbox/pgp's rules.
func parseKey(key []byte) (pgpKey, error) {
	e, info, err := pgp.ParsePublicKey(key)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, pgp.ErrKey) {
			return pgpKey{}, fail(ErrKey, "%s", oneLine(msg))
		}
		return pgpKey{}, fail(ErrKey, "unusable OpenPGP key: %s", oneLine(msg))
	}
	bin := pgp.Serialize(e)
	if bin == nil {
		return pgpKey{}, fail(ErrKey, "unusable OpenPGP key: cannot be serialised")
	}
	return pgpKey{bin: bin, info: info}, nil
}

type pgpKey struct {
	bin  []byte
	info pgp.KeyInfo
}

func oneLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// newPassphrase makes a passphrase and its argon2id hash.
func (a *Admin) newPassphrase(ctx context.Context) (pass, hash string, err error) {
	pass, err = kdf.NewPassphrase(PassphraseWords)
	if err != nil {
		return "", "", fail(ErrInternal, "passphrase: %v", err)
	}
	hash, err = a.jour.HashPassword(ctx, pass, kdf.Params(a.cfg.PasswordKDF))
	if err != nil {
		return "", "", kdfErr(err)
	}
	return pass, hash, nil
}

// newOnionAuth makes a v3 onion client-authorisation key pair, base32.
func newOnionAuth() (pub, priv string, err error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return "", "", fail(ErrInternal, "onion key: %v", err)
	}
	return onionB32.EncodeToString(k.PublicKey().Bytes()), onionB32.EncodeToString(k.Bytes()), nil
}

// JournalistAdd registers a journalist with their OpenPGP public key. It
// generates the passphrase and the onion access key and returns both once.
func (a *Admin) JournalistAdd(ctx context.Context, name string, key []byte) (JournalistAdded, error) {
	if err := ValidName(name); err != nil {
		return JournalistAdded{}, err
	}
	k, err := parseKey(key)
	if err != nil {
		return JournalistAdded{}, err
	}
	// Refuse a duplicate before spending a password hash on it.
	if _, err := a.st.Journalist(name); err == nil {
		return JournalistAdded{}, fail(ErrExists, "journalist %q already exists", name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return JournalistAdded{}, storeErr(err, name)
	}
	pass, hash, err := a.newPassphrase(ctx)
	if err != nil {
		return JournalistAdded{}, err
	}
	onionPub, onionPriv, err := newOnionAuth()
	if err != nil {
		return JournalistAdded{}, err
	}
	if err := ctxErr(ctx); err != nil {
		return JournalistAdded{}, err
	}
	j := store.Journalist{
		Name:            name,
		PasswordHash:    hash,
		PublicKey:       k.bin,
		Fingerprint:     k.info.Fingerprint,
		KeyExpires:      k.info.Expires,
		OnionAuthPublic: onionPub,
		Created:         a.now(),
	}
	if err := a.st.AddJournalist(j); err != nil {
		return JournalistAdded{}, storeErr(err, name)
	}
	a.log.Info("journalist added", "journalist", name)
	got, err := a.st.Journalist(name)
	if err != nil {
		return JournalistAdded{}, storeErr(err, name)
	}
	added := JournalistAdded{Journalist: infoOf(got), Passphrase: pass, OnionAuthPrivate: onionPriv, JournalistOnion: a.JournalistOnion()}
	return added, a.accessChanged(ctx)
}

// JournalistList returns every journalist, sorted by name.
func (a *Admin) JournalistList(ctx context.Context) ([]JournalistInfo, error) {
	js, err := a.st.Journalists()
	if err != nil {
		return nil, fail(ErrInternal, "%v", err)
	}
	out := make([]JournalistInfo, 0, len(js))
	for _, j := range js {
		out = append(out, infoOf(j))
	}
	return out, nil
}

// JournalistRemove deletes a journalist, their mailboxes and their onion
// access: the one command for a lost laptop.
func (a *Admin) JournalistRemove(ctx context.Context, name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := a.st.RemoveJournalist(name); err != nil {
		return storeErr(err, name)
	}
	a.log.Info("journalist removed", "journalist", name)
	return a.accessChanged(ctx)
}

// JournalistPasswd replaces a journalist's passphrase with a new generated
// one, returned once.
func (a *Admin) JournalistPasswd(ctx context.Context, name string) (NewPassphrase, error) {
	if err := ValidName(name); err != nil {
		return NewPassphrase{}, err
	}
	if _, err := a.st.Journalist(name); err != nil {
		return NewPassphrase{}, storeErr(err, name)
	}
	pass, hash, err := a.newPassphrase(ctx)
	if err != nil {
		return NewPassphrase{}, err
	}
	if err := ctxErr(ctx); err != nil {
		return NewPassphrase{}, err
	}
	err = a.st.UpdateJournalist(name, func(j *store.Journalist) error {
		j.PasswordHash = hash
		return nil
	})
	if err != nil {
		return NewPassphrase{}, storeErr(err, name)
	}
	a.log.Info("journalist passphrase replaced", "journalist", name)
	return NewPassphrase{Name: name, Passphrase: pass}, nil
}

// JournalistSetKey replaces a journalist's OpenPGP public key. New
// submissions are encrypted to the new key; old ones stay as they were.
func (a *Admin) JournalistSetKey(ctx context.Context, name string, key []byte) (JournalistInfo, error) {
	if err := ValidName(name); err != nil {
		return JournalistInfo{}, err
	}
	k, err := parseKey(key)
	if err != nil {
		return JournalistInfo{}, err
	}
	err = a.st.UpdateJournalist(name, func(j *store.Journalist) error {
		j.PublicKey = k.bin
		j.Fingerprint = k.info.Fingerprint
		j.KeyExpires = k.info.Expires
		return nil
	})
	if err != nil {
		return JournalistInfo{}, storeErr(err, name)
	}
	a.log.Info("journalist key replaced", "journalist", name)
	got, err := a.st.Journalist(name)
	if err != nil {
		return JournalistInfo{}, storeErr(err, name)
	}
	return infoOf(got), nil
}
