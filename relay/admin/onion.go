package admin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"postern/mailbox/authn"
	"postern/mailbox/store"
)

// JournalistOnionFile holds the journalist onion's address once `relay serve`
// has published it, so that onboarding works from the CLI too.
const JournalistOnionFile = "onion/journalist.hostname"

// TorStatus is what `relay status` shows about Tor. It comes from the running
// relay; a CLI on a stopped instance has none.
type TorStatus struct {
	Bootstrap       int    `json:"bootstrap_percent"`
	Summary         string `json:"summary"`
	IntakeOnion     string `json:"intake_onion"`
	JournalistOnion string `json:"journalist_onion"`
	// AllowTorExtra: serve runs with --allow-tor-extra.
	AllowTorExtra bool `json:"allow_tor_extra"`
}

// Hooks connect an Admin inside `relay serve` to Tor. Both may be nil.
type Hooks struct {
	// AccessChanged runs after a journalist was added or removed or got a new
	// onion key, before the command returns: serve republishes the journalist
	// onion with the new set of client keys, so a removal cuts access at once.
	AccessChanged func(ctx context.Context) error
	// Tor reports the state of tor for Status.
	Tor func() TorStatus
}

type hooks struct {
	mu    sync.Mutex
	h     Hooks
	locks func() []authn.Lock
}

// SetLoginLocks lets Status report journalists whose logins the failed-login
// throttle that IMAP and SMTP share is slowing; the wiring of the services
// calls it.
func (a *Admin) SetLoginLocks(f func() []authn.Lock) {
	a.hooks.mu.Lock()
	a.hooks.locks = f
	a.hooks.mu.Unlock()
}

func (a *Admin) loginLocks() []authn.Lock {
	a.hooks.mu.Lock()
	f := a.hooks.locks
	a.hooks.mu.Unlock()
	if f == nil {
		return nil
	}
	return f()
}

// SetHooks installs hooks; serve calls it once before it answers commands.
func (a *Admin) SetHooks(h Hooks) {
	a.hooks.mu.Lock()
	a.hooks.h = h
	a.hooks.mu.Unlock()
}

func (a *Admin) getHooks() Hooks {
	a.hooks.mu.Lock()
	defer a.hooks.mu.Unlock()
	return a.hooks.h
}

// accessChanged tells serve that the set of onion client keys changed. A
// failure is reported to the admin: the store already holds the change, and the
// next start publishes it, but the admin must know access was not updated yet.
func (a *Admin) accessChanged(ctx context.Context) error {
	h := a.getHooks()
	if h.AccessChanged == nil {
		return nil
	}
	if err := h.AccessChanged(ctx); err != nil {
		a.log.Error("journalist onion not republished", "err", err)
		return fail(ErrInternal, "saved, but the journalist onion could not be republished (%v); restart relay serve", err)
	}
	return nil
}

// OnionKey is a journalist's new onion client-authorisation key.
type OnionKey struct {
	Name             string `json:"name"`
	OnionAuthPublic  string `json:"onion_auth_public"`
	OnionAuthPrivate string `json:"onion_auth_private"`
	// JournalistOnion is the address the key opens ("" until serve has run).
	JournalistOnion string `json:"journalist_onion"`
}

// JournalistOnionKey gives a journalist a new onion client key pair and
// returns the private half once. The old key stops working at once.
func (a *Admin) JournalistOnionKey(ctx context.Context, name string) (OnionKey, error) {
	if err := ValidName(name); err != nil {
		return OnionKey{}, err
	}
	pub, priv, err := newOnionAuth()
	if err != nil {
		return OnionKey{}, err
	}
	err = a.st.UpdateJournalist(name, func(j *store.Journalist) error {
		j.OnionAuthPublic = pub
		return nil
	})
	if err != nil {
		return OnionKey{}, storeErr(err, name)
	}
	a.log.Info("journalist onion key replaced", "journalist", name)
	k := OnionKey{Name: name, OnionAuthPublic: pub, OnionAuthPrivate: priv, JournalistOnion: a.JournalistOnion()}
	return k, a.accessChanged(ctx)
}

// Onboarding is everything a journalist needs to set up Thunderbird over Tor.
// The CLI writes it into a folder, except the passphrase, which it only shows.
type Onboarding struct {
	OnionKey
	Passphrase  string `json:"passphrase"`
	MailDomain  string `json:"mail_domain"`
	Fingerprint string `json:"fingerprint"` // the journalist's own key
	// SubmissionKeys are the fingerprints submissions are encrypted to.
	SubmissionKeys []string `json:"submission_keys"`
}

// JournalistOnboard issues fresh credentials for a journalist's (new) machine:
// a new onion key and a new passphrase. The old ones stop working.
func (a *Admin) JournalistOnboard(ctx context.Context, name string) (Onboarding, error) {
	j, err := a.st.Journalist(name)
	if err != nil {
		return Onboarding{}, storeErr(err, name)
	}
	// Refuse before anything changes: onboarding replaces both credentials.
	if a.JournalistOnion() == "" {
		return Onboarding{}, fail(ErrInvalid, "the journalist onion has no address yet: run relay serve (with at least one journalist), then onboard %s", name)
	}
	pass, err := a.JournalistPasswd(ctx, name)
	if err != nil {
		return Onboarding{}, err
	}
	k, err := a.JournalistOnionKey(ctx, name)
	if err != nil {
		return Onboarding{}, err
	}
	js, err := a.st.Journalists()
	if err != nil {
		return Onboarding{}, fail(ErrInternal, "%v", err)
	}
	o := Onboarding{OnionKey: k, Passphrase: pass.Passphrase, MailDomain: a.cfg.MailDomain, Fingerprint: j.Fingerprint}
	for _, x := range js {
		o.SubmissionKeys = append(o.SubmissionKeys, x.Fingerprint)
	}
	return o, nil
}

// JournalistOnion returns the journalist onion's address as last published.
func (a *Admin) JournalistOnion() string {
	b, err := os.ReadFile(filepath.Join(a.st.Dir(), JournalistOnionFile))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			a.log.Warn("journalist onion address unreadable", "err", err)
		}
		return ""
	}
	return strings.TrimSpace(string(b))
}
