// Package selftest is `relay selftest`: the end-to-end check a newsroom runs
// from cron or a monitoring system. Through a tor SOCKS port it posts a
// canary to the intake onion; the relay delivers it, encrypted, into the
// hidden system account's INBOX (never a journalist's, and from no source),
// skipping any release window; the check logs in to IMAP as that account,
// decrypts the canary, and removes it.
//
// The relay recognises the canary by a token derived from DATA/selftest/secret
// (0600, in the 0700 data directory: only the relay's user and root read it),
// which also derives the hidden account's IMAP passphrase. The canary's key
// is DATA/selftest/key.asc: it opens canaries only; no submission is ever
// encrypted to it (the account is store.Journalist.System).
package selftest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/kdf"
	"postern/mailbox/pgp"
	"postern/mailbox/store"
	"postern/relay/admin"
	"postern/relay/demokey"
)

// Names the selftest uses.
const (
	// Account is the hidden system account; admin.ValidName refuses the
	// leading underscore, so no journalist can have it.
	Account = "_selftest"
	// Path is the intake endpoint of the canary. Without the right token
	// it is handed to the form like any other path (a 404).
	Path       = "/selftest"
	dirName    = "selftest"
	secretFile = "selftest/secret"
	keyFile    = "selftest/key.asc"
)

// Secret is the selftest's secret: the canary token and the hidden
// account's passphrase derive from it.
type Secret struct{ raw []byte }

func (s Secret) derive(label string) string {
	m := hmac.New(sha256.New, s.raw)
	m.Write([]byte(label))
	return hex.EncodeToString(m.Sum(nil))
}

// Token is what the canary's form post carries.
func (s Secret) Token() string { return s.derive("postern selftest canary token v1") }

// Passphrase is the hidden account's IMAP passphrase.
func (s Secret) Passphrase() string { return s.derive("postern selftest imap passphrase v1") }

// Load reads the secret and the canary key from dataDir.
func Load(dataDir string) (Secret, *openpgp.Entity, error) {
	b, err := readNoAtime(filepath.Join(dataDir, secretFile))
	if err != nil {
		return Secret{}, nil, fmt.Errorf("cannot read the selftest secret (run as the relay's user or root; relay serve makes it at start): %v", err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(raw) != 32 {
		return Secret{}, nil, errors.New("the selftest secret is damaged; remove DATA/selftest and restart relay serve")
	}
	kb, err := readNoAtime(filepath.Join(dataDir, keyFile))
	if err != nil {
		return Secret{}, nil, fmt.Errorf("cannot read the selftest key: %v", err)
	}
	ents, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(kb))
	if err != nil || len(ents) != 1 {
		return Secret{}, nil, errors.New("the selftest key is damaged; remove DATA/selftest and restart relay serve")
	}
	return Secret{raw: raw}, ents[0], nil
}

// readNoAtime reads a file without dating it by its access time (file
// times in the data directory are the day's: docs/admin.md).
func readNoAtime(path string) ([]byte, error) {
	f, err := store.OpenNoAtime(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

// Ensure prepares the selftest when relay serve starts: the secret and key
// on first use, the hidden account with the derived passphrase and the
// key's public half, and an empty INBOX (a canary left by a crash goes).
func Ensure(ctx context.Context, a *admin.Admin) error {
	dir := a.Store().Dir()
	sec, key, err := Load(dir)
	if err != nil {
		if sec, key, err = create(dir); err != nil {
			return fmt.Errorf("selftest: %w", err)
		}
		a.DayTimes(filepath.Join(dir, secretFile), filepath.Join(dir, keyFile), filepath.Join(dir, dirName), dir)
	}
	var pub bytes.Buffer
	if err := key.Serialize(&pub); err != nil {
		return fmt.Errorf("selftest: %w", err)
	}
	_, info, err := pgp.ParsePublicKey(pub.Bytes())
	if err != nil {
		return fmt.Errorf("selftest: %w", err)
	}
	st := a.Store()
	j, err := st.Journalist(Account)
	switch {
	case errors.Is(err, store.ErrNotFound):
		hash, err := a.JournalistPool().HashPassword(ctx, sec.Passphrase(), kdf.Params(a.Config().PasswordKDF))
		if err != nil {
			return fmt.Errorf("selftest: %w", err)
		}
		err = st.AddJournalist(store.Journalist{Name: Account, PasswordHash: hash, PublicKey: pub.Bytes(),
			Fingerprint: info.Fingerprint, System: true})
		if err != nil {
			return fmt.Errorf("selftest: %w", err)
		}
	case err != nil:
		return fmt.Errorf("selftest: %w", err)
	default:
		ok, _ := a.JournalistPool().VerifyPassword(ctx, sec.Passphrase(), j.PasswordHash)
		if !ok || j.Fingerprint != info.Fingerprint || !j.System {
			hash, err := a.JournalistPool().HashPassword(ctx, sec.Passphrase(), kdf.Params(a.Config().PasswordKDF))
			if err != nil {
				return fmt.Errorf("selftest: %w", err)
			}
			err = st.UpdateJournalist(Account, func(j *store.Journalist) error {
				j.PasswordHash, j.PublicKey, j.Fingerprint, j.System = hash, pub.Bytes(), info.Fingerprint, true
				return nil
			})
			if err != nil {
				return fmt.Errorf("selftest: %w", err)
			}
		}
	}
	return clearInbox(st, 0)
}

// clearInbox removes the hidden INBOX's messages up to uid (0: all).
func clearInbox(st *store.Store, upTo uint32) error {
	msgs, err := st.Messages(Account, "INBOX")
	if err != nil {
		return fmt.Errorf("selftest: %w", err)
	}
	var uids []uint32
	for _, m := range msgs {
		if upTo == 0 || m.UID <= upTo {
			uids = append(uids, m.UID)
		}
	}
	if len(uids) == 0 {
		return nil
	}
	return st.Expunge(Account, "INBOX", uids)
}

func create(dir string) (Secret, *openpgp.Entity, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Secret{}, nil, err
	}
	k, err := demokey.New("Postern selftest", Account+"@selftest.invalid")
	if err != nil {
		return Secret{}, nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, dirName), 0o700); err != nil {
		return Secret{}, nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, keyFile), k.Secret, 0o600); err != nil {
		return Secret{}, nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, secretFile), []byte(hex.EncodeToString(raw)+"\n"), 0o600); err != nil {
		return Secret{}, nil, err
	}
	return Load(dir)
}
