package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"postern/relay/admin"
	"postern/relay/ctl"
	"postern/relay/daemon"
)

// services lists what the demo runs. Each network service is one entry;
// the control socket is always first.
//
// WIRING POINT (lead): intake/web, the IMAP server and the SMTP endpoint
// are not wired yet. When mailbox/delivery exists, add here:
//
//	{Name: "intake", Addr: o.Intake, Serve: daemon.HTTP(srv.HTTPServer(o.Intake))}
//
// with srv from web.New(web.Options{Store: a.Store(), Pool: a.Pool(),
// Deliverer: …, Logger: o.Logger.With("component", "intake"),
// Domain: cfg.MailDomain, OrgName: cfg.Organisation,
// MaxSubmissionBytes: cfg.MaxSubmissionBytes(), MaxMessageChars:
// cfg.MaxMessageChars, SessionIdle: cfg.SessionIdle(),
// KDF: kdf.Params(cfg.SourceKDF), Salt: a.Store().Salt(),
// Version: admin.Version, AllowUploads: true}), and likewise
// {Name: "imap", Addr: o.IMAP, …} and {Name: "smtp", Addr: o.SMTP, …}.
func services(a *admin.Admin, sock net.Listener, o Options) ([]daemon.Service, error) {
	svcs := []daemon.Service{{
		Name:     "ctl",
		Listener: sock,
		Serve: func(ctx context.Context, ln net.Listener) error {
			return ctl.Serve(ctx, ln, ctl.ServerOptions{Ops: a, Logger: o.Logger.With("component", "ctl")})
		},
	}}
	return svcs, nil
}

// boundAddr is the address a service really listens on, or the configured
// one for a service that is not built yet.
func boundAddr(svcs []daemon.Service, name, configured string) string {
	for _, s := range svcs {
		if s.Name == name && s.Listener != nil {
			return s.Listener.Addr().String()
		}
	}
	return configured
}

func running(svcs []daemon.Service, name string) string {
	for _, s := range svcs {
		if s.Name == name {
			return ""
		}
	}
	return "   (not built yet)"
}

func printBanner(w io.Writer, info Info, svcs []daemon.Service) {
	bar := strings.Repeat("!", 68)
	fmt.Fprintf(w, `%[1]s
!!  DEMO MODE — NOT ANONYMOUS                                      !!
!!  No Tor: every service listens on loopback in the clear.         !!
!!  The demo journalist's secret key lies in the data directory.    !!
!!  Never use a demo with real sources.                             !!
%[1]s

Data directory:   %[2]s
Source web form:  %[3]s%[4]s

Journalist account (Thunderbird, no encryption on loopback):
  IMAP server:    %[5]s%[6]s
  SMTP server:    %[7]s%[8]s
  user name:      %[9]s
  password:       %[10]s
  OpenPGP key:    import %[11]s
                  (Thunderbird: Account Settings → End-To-End Encryption → Add Key → Import)

The same is in %[12]s.
Admin commands reach this relay through its control socket, for example:
  relay status --data %[2]s
Stop with Ctrl-C.
`, bar, info.DataDir, info.IntakeURL, running(svcs, "intake"),
		info.IMAPAddr, running(svcs, "imap"), info.SMTPAddr, running(svcs, "smtp"),
		info.Journalist, info.Password, info.SecretKeyFile, info.DataDir+"/"+InfoFile)
}
