package demo

import (
	"fmt"
	"io"
	"net"
	"strings"

	"postern/relay/admin"
	"postern/relay/daemon"
	"postern/relay/wire"
)

// services lists what the demo runs: the control socket, then every
// network service relay/wire builds (intake form, IMAP; SMTP when it
// exists), on the loopback addresses of the flags.
func services(a *admin.Admin, sock net.Listener, o Options) ([]daemon.Service, error) {
	svcs := []daemon.Service{wire.Control(a, sock, o.Logger)}
	more, err := wire.Services(a, wire.Options{Intake: o.Intake, IMAP: o.IMAP, SMTP: o.SMTP, Logger: o.Logger, Demo: true})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return append(svcs, more...), nil
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
