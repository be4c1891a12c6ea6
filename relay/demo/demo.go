// Package demo implements `relay demo`: a whole relay on loopback, without
// Tor, with one journalist ("demo") whose freshly made secret key and
// passphrase are written next to the data, so that a developer can point
// Thunderbird at it a minute after `make run`.
//
// A demo is not anonymous and says so loudly. It only ever touches an
// instance that a demo created (marked at init), so it can never add its
// well-known journalist to a real newsroom.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"postern/mailbox/pgp"
	"postern/relay/admin"
	"postern/relay/config"
	"postern/relay/ctl"
	"postern/relay/daemon"
	"postern/relay/demokey"
	"postern/relay/logging"
)

// File names inside the demo data directory.
const (
	InfoFile      = "demo.json"
	SecretKeyFile = "demo-journalist.sec.asc"
	PublicKeyFile = "demo-journalist.pub.asc"
	// PassphraseFile keeps the demo journalist's passphrase (0600), written
	// once and reused by every later start, so a Thunderbird set up against
	// the demo keeps working across `make run`s.
	PassphraseFile = "demo-journalist.passphrase"
	Journalist     = "demo"
)

// Defaults of the listen flags.
const (
	DefaultDir    = "./demo-data"
	DefaultIntake = "127.0.0.1:8080"
	DefaultIMAP   = "127.0.0.1:1143"
	DefaultSMTP   = "127.0.0.1:1587"
)

// Info is what demo.json holds: how to reach the demo and log in.
type Info struct {
	DataDir       string `json:"data_dir"`
	IntakeURL     string `json:"intake_url"`
	IMAPAddr      string `json:"imap_addr"`
	SMTPAddr      string `json:"smtp_addr"`
	Journalist    string `json:"journalist"`
	Password      string `json:"password"`
	SecretKeyFile string `json:"secret_key_file"`
	PublicKeyFile string `json:"public_key_file"`
}

// Options configure Run.
type Options struct {
	Dir string // data directory (created if absent)
	// Config holds the settings for a new instance (zero: defaults). It
	// is ignored when the instance exists: its postern.conf rules.
	Config             *config.Config
	Intake, IMAP, SMTP string // loopback listen addresses; port 0 picks one
	// Banner receives the loud human-readable announcement.
	Banner io.Writer
	// Logger is the privacy-filtered server log.
	Logger *slog.Logger
	// Level, if set, is the logger's level; it is set to the instance's
	// log_level once postern.conf is read.
	Level *slog.LevelVar
	// Started, if set, is called with the final Info once every service
	// listens (the CLI prints it as JSON for --json).
	Started func(Info)
}

// Run prepares the instance and serves until ctx is done.
func Run(ctx context.Context, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Banner == nil {
		o.Banner = io.Discard
	}
	for _, a := range []string{o.Intake, o.IMAP, o.SMTP} {
		if err := config.CheckListen(a); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	cfg := config.Default()
	// A demo journalist wants to see a test submission arrive: no delivery
	// window (a real instance batches them, see docs/admin.md).
	cfg.DeliveryWindowMinutes = 0
	if o.Config != nil {
		cfg = *o.Config
	}
	a, err := openOrInit(dir, cfg, o.Logger)
	if err != nil {
		return err
	}
	defer a.Close()
	if o.Level != nil {
		l, err := logging.ParseLevel(a.Config().LogLevel)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		o.Level.Set(l)
	}
	password, err := ensureJournalist(ctx, a, dir)
	if err != nil {
		return err
	}
	sock, err := ctl.Listen(dir)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	svcs, err := services(a, sock, o)
	if err != nil {
		sock.Close()
		return err
	}
	if err := daemon.Bind(svcs); err != nil {
		sock.Close()
		return fmt.Errorf("demo: %w", err)
	}
	info := Info{
		DataDir:       dir,
		IntakeURL:     "http://" + boundAddr(svcs, "intake", o.Intake) + "/",
		IMAPAddr:      boundAddr(svcs, "imap", o.IMAP),
		SMTPAddr:      boundAddr(svcs, "smtp", o.SMTP),
		Journalist:    Journalist,
		Password:      password,
		SecretKeyFile: filepath.Join(dir, SecretKeyFile),
		PublicKeyFile: filepath.Join(dir, PublicKeyFile),
	}
	err = recordListen(a, dir, info)
	if err == nil {
		err = writeInfo(dir, info)
	}
	if err != nil {
		for _, s := range svcs {
			s.Listener.Close()
		}
		return err
	}
	printBanner(o.Banner, info, svcs)
	if o.Started != nil {
		o.Started(info)
	}
	// Retention runs at start and then daily while the services do.
	defer a.StartRetention(ctx)()
	return daemon.Run(ctx, svcs, daemon.Options{Logger: o.Logger})
}

// openOrInit reuses a demo instance or creates one.
func openOrInit(dir string, cfg config.Config, log *slog.Logger) (*admin.Admin, error) {
	if _, err := os.Stat(filepath.Join(dir, config.FileName)); errors.Is(err, os.ErrNotExist) {
		a, err := admin.Init(dir, cfg, admin.InitOptions{Demo: true, Options: admin.Options{Logger: log}})
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		return a, nil
	}
	a, err := admin.Open(dir, admin.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if !a.IsDemo() {
		a.Close()
		return nil, fmt.Errorf("demo: %s holds an instance not made by 'relay demo'; the demo never touches a real instance", dir)
	}
	return a, nil
}

// ensureJournalist makes sure the demo journalist exists with the key on
// disk and returns their passphrase: the one kept in PassphraseFile while it
// still verifies against the stored hash, else a new one, written there.
func ensureJournalist(ctx context.Context, a *admin.Admin, dir string) (string, error) {
	secPath := filepath.Join(dir, SecretKeyFile)
	pubPath := filepath.Join(dir, PublicKeyFile)
	existing, err := a.Store().Journalist(Journalist)
	exists := err == nil
	if exists && keyFilesMatch(secPath, pubPath, existing.Fingerprint) {
		if pass := keptPassphrase(ctx, a, dir, existing.PasswordHash); pass != "" {
			return pass, nil
		}
		return renewPassphrase(ctx, a, dir)
	}
	k, err := demokey.New("Demo Journalist", Journalist+"@"+a.Config().MailDomain)
	if err != nil {
		return "", err
	}
	if err := writeFileAtomic(secPath, k.Secret, 0o600); err != nil {
		return "", err
	}
	if err := writeFileAtomic(pubPath, k.Public, 0o644); err != nil {
		return "", err
	}
	if !exists {
		added, err := a.JournalistAdd(ctx, Journalist, k.Public)
		if err != nil {
			return "", fmt.Errorf("demo: %w", err)
		}
		return added.Passphrase, writeFileAtomic(filepath.Join(dir, PassphraseFile), []byte(added.Passphrase+"\n"), 0o600)
	}
	if _, err := a.JournalistSetKey(ctx, Journalist, k.Public); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return renewPassphrase(ctx, a, dir)
}

// keptPassphrase returns the passphrase in PassphraseFile if it still
// opens the demo journalist's account (no one ran `relay journalist
// passwd demo` meanwhile), else "".
func keptPassphrase(ctx context.Context, a *admin.Admin, dir, hash string) string {
	b, err := os.ReadFile(filepath.Join(dir, PassphraseFile))
	if err != nil {
		return ""
	}
	pass := strings.TrimSpace(string(b))
	if ok, err := a.JournalistPool().VerifyPassword(ctx, pass, hash); err != nil || !ok {
		return ""
	}
	return pass
}

func renewPassphrase(ctx context.Context, a *admin.Admin, dir string) (string, error) {
	pw, err := a.JournalistPasswd(ctx, Journalist)
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return pw.Passphrase, writeFileAtomic(filepath.Join(dir, PassphraseFile), []byte(pw.Passphrase+"\n"), 0o600)
}

func keyFilesMatch(secPath, pubPath, fingerprint string) bool {
	if _, err := os.Stat(secPath); err != nil {
		return false
	}
	pub, err := os.ReadFile(pubPath)
	if err != nil {
		return false
	}
	_, info, err := pgp.ParsePublicKey(pub)
	return err == nil && info.Fingerprint == fingerprint
}

// recordListen makes the demo's postern.conf name the addresses it really
// listens on (the flags', or the ports port 0 picked), so the file read by
// whoever looks at the demo is not a default the demo does not use.
func recordListen(a *admin.Admin, dir string, info Info) error {
	cfg := a.Config()
	intake := strings.TrimSuffix(strings.TrimPrefix(info.IntakeURL, "http://"), "/")
	if cfg.IntakeListen == intake && cfg.IMAPListen == info.IMAPAddr && cfg.SMTPListen == info.SMTPAddr {
		return nil
	}
	cfg.IntakeListen, cfg.IMAPListen, cfg.SMTPListen = intake, info.IMAPAddr, info.SMTPAddr
	var b bytes.Buffer
	if err := cfg.Write(&b); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	path := filepath.Join(dir, config.FileName)
	if err := writeFileAtomic(path, b.Bytes(), 0o600); err != nil {
		return err
	}
	a.DayTimes(path, dir)
	return nil
}

func writeInfo(dir string, info Info) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, InfoFile), append(b, '\n'), 0o600)
}

// writeFileAtomic replaces path in one step, so a reader (a test waiting
// for demo.json) never sees half a file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("demo: write %s: %w", filepath.Base(path), err)
	}
	return nil
}
