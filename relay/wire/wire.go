// Package wire builds the relay's network services from an open instance:
// the one place where settings become the option structs of intake and
// mailbox. `relay demo` runs the result on loopback; `relay serve` runs
// the same list and publishes it through Tor.
package wire

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"postern/intake/web"
	"postern/mailbox/authn"
	"postern/mailbox/delivery"
	imapd "postern/mailbox/imap"
	"postern/mailbox/kdf"
	"postern/mailbox/netlimit"
	"postern/mailbox/pgp"
	smtpd "postern/mailbox/smtp"
	"postern/relay/admin"
	"postern/relay/ctl"
	"postern/relay/daemon"
	"postern/relay/selftest"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Options say where the services listen.
type Options struct {
	Intake, IMAP, SMTP string // loopback host:port
	Logger             *slog.Logger
	// Demo puts the "not anonymous" banner on every page of the form.
	Demo bool
}

// intakeConns caps the form's open connections: each costs the relay about
// 28 KiB (measured, docs/benchmarks.md (f)), and behind Tor every visitor is
// 127.0.0.1, so the cap is global. Past it a visitor gets a bare 503 at once.
// The idle bound only caps deadlines net/http sets itself (uploads keep their
// own per-read idle deadline, shorter than this).
func intakeConns() netlimit.Options {
	return netlimit.Options{
		Max:       1024,
		Idle:      10 * time.Minute,
		Deadlines: netlimit.Capped,
		Busy:      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 60\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
	}
}

// sweepEvery is how often idle source sessions (and their keys) are wiped
// even when no request arrives to do it lazily.
const sweepEvery = time.Minute

// Services returns the network services of the instance, unbound.
func Services(a *admin.Admin, o Options) ([]daemon.Service, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := a.Config()
	archive, err := archiveKey(a)
	if err != nil {
		return nil, err
	}
	newsroom, err := newsroomText(a)
	if err != nil {
		return nil, err
	}
	deliverer := delivery.New(delivery.Options{
		Store:      a.Store(),
		Domain:     cfg.MailDomain,
		Tally:      a.Tally(),
		ArchiveKey: archive,
		Compress:   true,
		Window:     cfg.DeliveryWindow(),
	})
	form, err := web.New(web.Options{
		Store:              a.Store(),
		Pool:               a.Pool(),
		Deliverer:          deliverer,
		Tally:              a.Tally(),
		Domain:             cfg.MailDomain,
		OrgName:            cfg.Organisation,
		Newsroom:           newsroom,
		MaxSubmissionBytes: cfg.MaxSubmissionBytes(),
		MaxMessageChars:    cfg.MaxMessageChars,
		SessionIdle:        cfg.SessionIdle(),
		KDF:                kdf.Params(cfg.SourceKDF),
		Salt:               a.Store().Salt(),
		Version:            admin.Version,
		AllowUploads:       true,
		PublishKeyFPRs:     cfg.PublishKeyFPRs,
		Languages:          cfg.Languages,
		Demo:               o.Demo,
		Manifest: func() (web.Manifest, bool) {
			p, ok := a.PublishedManifest()
			return web.Manifest{Signed: p.Signed, Organisation: p.Manifest.Organisation, Date: p.Manifest.Date,
				Canary: p.Manifest.Canary, OrgKey: p.OrgKey, Expired: p.Expired}, ok
		},
	})
	if err != nil {
		return nil, fmt.Errorf("wire: intake: %w", err)
	}
	// One authenticator (and throttle) for IMAP and SMTP, so a guesser
	// cannot double their rate by alternating protocols.
	throttle := authn.NewThrottle(authn.ThrottleOptions{})
	a.SetLoginLocks(throttle.Locks)
	auth := &authn.Authenticator{
		Store:       a.Store(),
		Pool:        a.JournalistPool(), // never the form's: a flood must not lock journalists out
		Throttle:    throttle,
		Logger:      log.With("component", "authn"),
		DummyParams: kdf.Params(cfg.PasswordKDF),
	}
	imapd, err := imapd.New(imapd.Options{
		Store:  a.Store(),
		Auth:   auth,
		Logger: log.With("component", "imap"),
		Tally:  a.Tally(),
	})
	if err != nil {
		return nil, fmt.Errorf("wire: imap: %w", err)
	}
	smtpSrv, err := smtpd.New(smtpd.Options{
		Store:      a.Store(),
		Auth:       auth,
		Domain:     cfg.MailDomain,
		OrgName:    cfg.Organisation,
		Tally:      a.Tally(),
		ArchiveKey: archive,
	})
	if err != nil {
		return nil, fmt.Errorf("wire: smtp: %w", err)
	}
	httpSrv := form.HTTPServer(o.Intake)
	if !o.Demo {
		// relay selftest's canary: the hidden account, and the endpoint
		// that only the selftest secret opens (relay/selftest).
		if err := selftest.Ensure(context.Background(), a); err != nil {
			return nil, fmt.Errorf("wire: %w", err)
		}
		httpSrv.Handler = selftest.Handler(httpSrv.Handler, a.Store().Dir(), deliverer, a.Store())
	}
	httpServe := daemon.HTTP(httpSrv)
	return []daemon.Service{
		{Name: "intake", Addr: o.Intake, Serve: func(ctx context.Context, ln net.Listener) error {
			stop := sweep(ctx, form)
			defer stop()
			released := release(ctx, deliverer)
			defer released()
			return httpServe(ctx, netlimit.Listener(ln, intakeConns()))
		}},
		{Name: "imap", Addr: o.IMAP, Serve: imapd.Run},
		{Name: "smtp", Addr: o.SMTP, Serve: smtpSrv.Run},
	}, nil
}

// release runs the deliverer's window releases until ctx ends (at once,
// once, without a window: what an earlier run left pending).
func release(ctx context.Context, d *delivery.Deliverer) (wait func()) {
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	return func() { <-done }
}

// sweep wipes idle sessions every sweepEvery until ctx ends.
func sweep(ctx context.Context, form *web.Server) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(sweepEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				form.Sweep()
			}
		}
	}()
	return func() { cancel(); <-done }
}

// archiveKey loads the optional offline archive key named in the config.
// It must pass the same rules as a journalist's key.
func archiveKey(a *admin.Admin) (*openpgp.Entity, error) {
	path := a.Config().ArchiveKeyPath(a.Store().Dir())
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("archive_key_file: %w", err)
	}
	e, _, err := pgp.ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("archive_key_file %s: %w", path, err)
	}
	return e, nil
}

// newsroomText reads newsroom_text_file, if any.
func newsroomText(a *admin.Admin) (map[string]web.NewsroomText, error) {
	path := a.Config().NewsroomTextPath(a.Store().Dir())
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("newsroom_text_file: %w", err)
	}
	defer f.Close()
	t, err := web.ParseNewsroom(f)
	if err != nil {
		return nil, fmt.Errorf("newsroom_text_file %s: %w", path, err)
	}
	return t, nil
}

// Control is the control-socket service on sock: admin commands reach the
// running relay through it while it holds the database.
func Control(a *admin.Admin, sock net.Listener, log *slog.Logger) daemon.Service {
	return daemon.Service{
		Name:     "ctl",
		Listener: sock,
		Serve: func(ctx context.Context, ln net.Listener) error {
			return ctl.Serve(ctx, ln, ctl.ServerOptions{Ops: a, Logger: log.With("component", "ctl")})
		},
	}
}
