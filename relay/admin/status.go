package admin

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"postern/mailbox/tally"
	"postern/relay/logging"
	"postern/relay/tor"
)

// KeyWarnDays is how far ahead an expiring journalist key is reported.
const KeyWarnDays = 30

// Status is the health view of an instance. It holds counts only: nothing
// in it identifies a source.
type Status struct {
	Version       string   `json:"version"`
	GoVersion     string   `json:"go_version"`
	Running       bool     `json:"running"` // answered by a running relay
	DataDir       string   `json:"data_dir"`
	Demo          bool     `json:"demo"`
	MailDomain    string   `json:"mail_domain"`
	Schema        int      `json:"schema"`
	Migrations    []string `json:"migrations"`
	SourceKDF     string   `json:"source_kdf"`
	RetentionDays int      `json:"retention_days"`
	Journalists   int      `json:"journalists"`
	Sources       int      `json:"sources"`
	Messages      int      `json:"messages"` // message records over all journalists' mailboxes
	Replies       int      `json:"replies"`
	Blobs         int      `json:"blobs"`
	BlobBytes     int64    `json:"blob_bytes"`
	// Pending counts submissions waiting for the end of the delivery
	// window (a count: never their times).
	Pending               int `json:"pending"`
	DeliveryWindowMinutes int `json:"delivery_window_minutes"`

	// InstanceFingerprint names the identity key that signs the instance's
	// backups: what restore --instance expects.
	InstanceFingerprint string `json:"instance_fingerprint"`
	// TorExtra are postern.conf's tor_extra lines; TorExtraBeyondTestNetwork
	// those of them that serve refuses without --allow-tor-extra.
	TorExtra                  []string `json:"tor_extra"`
	TorExtraBeyondTestNetwork []string `json:"tor_extra_beyond_test_network"`
	// Retention says what expires next and when the pass runs (retention.go).
	Retention *RetentionStatus `json:"retention,omitempty"`
	// IntakeOnion and JournalistOnion are the onion addresses, read from the
	// service keys in DATA/onion (fixed by them, so known while the relay is
	// stopped); "" for a service never published yet.
	IntakeOnion     string `json:"intake_onion"`
	JournalistOnion string `json:"journalist_onion"`
	// Tor is set when a running relay answers and runs tor.
	Tor *TorStatus `json:"tor,omitempty"`
	// LapsedKeys are journalists whose key no longer passes the key rules:
	// nothing new is encrypted to them (report.go).
	LapsedKeys []LapsedKey `json:"lapsed_keys"`
	// Events are the failures counted instead of logged since the relay
	// started, with no times (report.go); empty on a stopped instance.
	Events []tally.Entry `json:"events"`
	// Desks are the desks with their journalists and counts (desk.go).
	Desks []DeskInfo `json:"desks"`
	// Languages are the web form's languages: offered or not, and who
	// translated each and whether a native speaker reviewed it.
	Languages []LanguageStatus `json:"languages"`
	// Warnings are one-line problems an admin should act on.
	Warnings []string `json:"warnings"`
}

// Status reports counts, schema, and warnings about journalist keys that
// expire within KeyWarnDays (or have expired: submissions can no longer be
// encrypted to them).
func (a *Admin) Status(ctx context.Context) (Status, error) {
	stats, err := a.st.Stats()
	if err != nil {
		return Status{}, fail(ErrInternal, "%v", err)
	}
	version, migs := a.st.Schema()
	s := Status{
		Version:       Version,
		GoVersion:     runtime.Version(),
		DataDir:       a.st.Dir(),
		Demo:          a.IsDemo(),
		MailDomain:    a.cfg.MailDomain,
		Schema:        version,
		Migrations:    migs,
		SourceKDF:     sourceKDFOf(a.cfg).String(),
		RetentionDays: a.cfg.RetentionDays,
		Journalists:   stats.Journalists,
		Sources:       stats.Sources,
		Messages:      stats.Messages,
		Replies:       stats.Replies,
		Blobs:         stats.Blobs,
		BlobBytes:     stats.BlobBytes,
		Warnings:      []string{},
	}
	if s.Pending, err = a.st.PendingCount(); err != nil {
		return Status{}, fail(ErrInternal, "%v", err)
	}
	s.DeliveryWindowMinutes = a.cfg.DeliveryWindowMinutes
	s.InstanceFingerprint = a.InstanceFingerprint()
	langs, langWarnings := languages(a.cfg.Languages)
	s.Languages = langs
	s.Warnings = append(s.Warnings, langWarnings...)
	for _, o := range []struct {
		name string
		addr *string
	}{{tor.Intake, &s.IntakeOnion}, {tor.Journalist, &s.JournalistOnion}} {
		addr, err := tor.KeyAddress(a.st.Dir(), o.name)
		if err != nil {
			s.Warnings = append(s.Warnings, err.Error())
		}
		*o.addr = addr
	}
	s.TorExtra = append([]string{}, a.cfg.TorExtra...)
	s.TorExtraBeyondTestNetwork = append([]string{}, a.cfg.TorExtraBeyondTestNetwork(a.st.Dir())...)
	if rs, err := a.RetentionStatus(ctx); err == nil {
		s.Retention = &rs
		s.Warnings = append(s.Warnings, retentionWarnings(rs, a.cfg)...)
	}
	if s.Desks, err = a.deskInfos(); err != nil {
		return Status{}, err
	}
	s.Warnings = append(s.Warnings, a.deskWarnings(s.Desks)...)
	js, err := a.st.Journalists()
	if err != nil {
		return Status{}, fail(ErrInternal, "%v", err)
	}
	today := a.now().UTC().Truncate(24 * time.Hour)
	expired := map[string]bool{}
	for _, j := range js {
		if j.KeyExpires.IsZero() {
			continue
		}
		left := int(j.KeyExpires.UTC().Sub(today).Hours() / 24)
		switch {
		case !j.KeyExpires.After(today):
			expired[j.Name] = true
			s.Warnings = append(s.Warnings, fmt.Sprintf("journalist %s: key %s expired on %s; replace it with 'relay journalist set-key'", j.Name, j.Fingerprint, day(j.KeyExpires)))
		case left <= KeyWarnDays:
			s.Warnings = append(s.Warnings, fmt.Sprintf("journalist %s: key %s expires on %s (in %d days)", j.Name, j.Fingerprint, day(j.KeyExpires), left))
		}
	}
	if s.LapsedKeys, err = a.LapsedKeys(); err != nil {
		return Status{}, err
	}
	s.Events = a.tally.Total()
	for i := range s.Events { // the same scrubbing as the log's
		s.Events[i].LastError = logging.Scrub(s.Events[i].LastError)
	}
	s.Warnings = append(s.Warnings, reportWarnings(s.LapsedKeys, expired, s.Events)...)
	if s.LapsedKeys == nil {
		s.LapsedKeys = []LapsedKey{}
	}
	if s.Events == nil {
		s.Events = []tally.Entry{}
	}
	known := map[string]bool{}
	for _, j := range js {
		known[j.Name] = true
	}
	for _, l := range a.loginLocks() {
		if known[l.Name] {
			s.Warnings = append(s.Warnings, fmt.Sprintf("journalist %s: %d failed logins; each login attempt waits up to %s until %s UTC (the right passphrase still works)", l.Name, l.Failures, l.Delay, l.Until.UTC().Format("15:04")))
		}
	}
	if h := a.getHooks(); h.Tor != nil {
		ts := h.Tor()
		s.Tor = &ts
		if ts.Bootstrap < 100 {
			s.Warnings = append(s.Warnings, fmt.Sprintf("tor is not bootstrapped (%d%%: %s): the onions are unreachable", ts.Bootstrap, ts.Summary))
		}
	}
	if n := len(s.TorExtraBeyondTestNetwork); n > 0 {
		if s.Tor != nil && s.Tor.AllowTorExtra {
			s.Warnings = append(s.Warnings, fmt.Sprintf("relay serve runs with --allow-tor-extra: %d tor_extra line(s) from postern.conf that are not a test-network include are in tor's configuration", n))
		} else {
			s.Warnings = append(s.Warnings, fmt.Sprintf("postern.conf sets %d tor_extra line(s) that are not a test-network include: relay serve refuses to start with them unless --allow-tor-extra is given", n))
		}
	}
	if len(js) == 0 {
		s.Warnings = append(s.Warnings, "no journalists: submissions cannot be delivered; add one with 'relay journalist add'")
	}
	infos := make([]JournalistInfo, len(js))
	for i, j := range js {
		infos[i] = infoOf(j)
	}
	s.Warnings = append(s.Warnings, a.manifestWarnings(infos, s.Desks)...)
	if s.Demo {
		s.Warnings = append(s.Warnings, "demo instance: not anonymous, not for real sources")
	}
	return s, nil
}
