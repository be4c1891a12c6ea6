// Package serve implements `relay serve`: the production relay. It opens the
// instance, answers admin commands on the control socket, runs the intake form,
// IMAP and SMTP on loopback, and publishes them as two v3 onion services
// through tor: the intake onion for sources and the journalist onion, which only
// journalists' client keys open.
//
// No listener outlives its onion: if tor cannot start, or exits while the relay
// runs, every service is stopped and serve returns an error (a supervisor such
// as systemd restarts it).
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"postern/relay/admin"
	"postern/relay/config"
	"postern/relay/ctl"
	"postern/relay/daemon"
	"postern/relay/logging"
	"postern/relay/tor"
	"postern/relay/wire"
)

// Onion ports, as journalists' clients see them.
const (
	IntakePort = 80
	IMAPPort   = 143
	SMTPPort   = 587
)

// intakeMaxStreams caps streams per rendezvous circuit on the intake onion: a
// browser needs a handful; a flood on one circuit gets the circuit closed.
const intakeMaxStreams = 32

// Options configure Run.
type Options struct {
	Dir string
	// Intake, IMAP, SMTP override the listen addresses of postern.conf.
	Intake, IMAP, SMTP string
	// AllowNonLoopback lets a listen address be something other than loopback
	// (flag --dangerously-listen-beyond-loopback). Never needed behind Tor.
	AllowNonLoopback bool
	// AllowTorExtra lets tor_extra lines that are not a test-network include
	// into tor's configuration (flag --allow-tor-extra). Without it serve
	// refuses to start with them: postern.conf travels in backups.
	AllowTorExtra bool
	// WithoutTor runs with no tor and no onions (flag
	// --without-tor-for-tests-only): tests of the services themselves.
	WithoutTor bool
	// TorPath is the tor program (default: tor on $PATH).
	TorPath string
	Logger  *slog.Logger
	Level   *slog.LevelVar
	// Out receives the human-readable announcement.
	Out io.Writer
	// Started is called once every service listens and the onions are
	// published.
	Started func(Info)
}

// ErrConfig marks a failure only the admin can fix: no usable instance, a
// bad postern.conf or flag, refused tor_extra lines, no tor program. A
// supervisor should not restart on it (relay exits 78, EX_CONFIG, and
// postern.service has RestartPreventExitStatus=78).
var ErrConfig = errors.New("configuration error")

type configError struct{ err error }

func (e configError) Error() string   { return e.err.Error() }
func (e configError) Unwrap() []error { return []error{e.err, ErrConfig} }

// configErr marks err as a configuration error (ErrConfig).
func configErr(err error) error { return configError{err} }

// Info says where the relay can be reached.
type Info struct {
	DataDir         string `json:"data_dir"`
	IntakeAddr      string `json:"intake_addr"`
	IMAPAddr        string `json:"imap_addr"`
	SMTPAddr        string `json:"smtp_addr"`
	IntakeOnion     string `json:"intake_onion,omitempty"`
	JournalistOnion string `json:"journalist_onion,omitempty"`
}

// Run serves until ctx is done or something fails.
func Run(ctx context.Context, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	a, err := admin.Open(dir, admin.Options{Logger: log})
	if errors.Is(err, admin.ErrInstance) {
		return configErr(err)
	}
	if err != nil {
		return err
	}
	defer a.Close()
	if a.IsDemo() {
		return configErr(fmt.Errorf("serve: %s is a demo instance (its journalist's secret key lies in it); create a real one with relay init", dir))
	}
	cfg := a.Config()
	if err := checkTorExtra(cfg, dir, o, log); err != nil {
		return configErr(err)
	}
	if o.Level != nil {
		l, err := logging.ParseLevel(cfg.LogLevel)
		if err != nil {
			return configErr(fmt.Errorf("serve: %w", err))
		}
		o.Level.Set(l)
	}
	addrs := map[string]*string{"intake": &o.Intake, "imap": &o.IMAP, "smtp": &o.SMTP}
	defaults := map[string]string{"intake": cfg.IntakeListen, "imap": cfg.IMAPListen, "smtp": cfg.SMTPListen}
	for name, p := range addrs {
		if *p == "" {
			*p = defaults[name]
		}
		if err := config.CheckListen(*p); err != nil {
			if !o.AllowNonLoopback {
				return configErr(fmt.Errorf("serve: --%s %v; pass --dangerously-listen-beyond-loopback only if you really mean to expose it", name, err))
			}
			log.Warn("listening beyond loopback: this service is reachable without Tor", "service", name)
		}
	}

	sock, err := ctl.Listen(dir)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	svcs, err := wire.Services(a, wire.Options{Intake: o.Intake, IMAP: o.IMAP, SMTP: o.SMTP, Logger: log})
	if err != nil {
		sock.Close()
		return err
	}
	svcs = append([]daemon.Service{wire.Control(a, sock, log)}, svcs...)
	if err := daemon.Bind(svcs); err != nil {
		sock.Close()
		return fmt.Errorf("serve: %w", err)
	}
	// The control socket came and goes at stop: each moves the data
	// directory's times, which are set back to the day.
	a.DayTimes(dir)
	defer a.DayTimes(dir)
	closeAll := func() {
		for _, s := range svcs {
			s.Listener.Close()
		}
	}
	info := Info{DataDir: dir, IntakeAddr: addrOf(svcs, "intake"), IMAPAddr: addrOf(svcs, "imap"), SMTPAddr: addrOf(svcs, "smtp")}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if o.WithoutTor {
		log.Warn("running without tor: no onion services; for tests only")
	} else {
		on, err := startOnions(ctx, a, o, info, log)
		if err != nil {
			closeAll()
			return err
		}
		defer on.tor.Close()
		info.IntakeOnion, info.JournalistOnion = on.tor.Address(tor.Intake), on.tor.Address(tor.Journalist)
		go func() {
			select {
			case <-on.tor.Exited():
				cancel(errors.New("serve: tor exited; stopping every service so none runs without its onion"))
			case <-ctx.Done():
			}
		}()
	}
	announce(o.Out, info)
	if o.Started != nil {
		o.Started(info)
	}
	// Retention runs at start and then daily while the services do.
	defer a.StartRetention(ctx)()
	err = daemon.Run(ctx, svcs, daemon.Options{Logger: log})
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return err
}

// checkTorExtra refuses tor_extra lines that are not a test-network include,
// unless the admin passed --allow-tor-extra (then it says so, loudly).
func checkTorExtra(cfg config.Config, dir string, o Options, log *slog.Logger) error {
	if o.WithoutTor {
		return nil // no tor, no torrc
	}
	beyond := cfg.TorExtraBeyondTestNetwork(dir)
	if len(beyond) == 0 {
		return nil
	}
	if !o.AllowTorExtra {
		why := config.TestNetworkInclude(beyond[0], dir)
		return fmt.Errorf("serve: %s sets %d tor_extra line(s) that are not a test-network include (%q: %v); "+
			"they would go into tor's configuration as they are: remove them, or start with --allow-tor-extra only if you wrote them yourself",
			filepath.Join(dir, config.FileName), len(beyond), beyond[0], why)
	}
	log.Warn("--allow-tor-extra: tor_extra lines from postern.conf go into tor's configuration unchecked", "count", len(beyond))
	fmt.Fprintf(o.Out, "WARNING: --allow-tor-extra: %d tor_extra line(s) from postern.conf go into tor's configuration unchecked:\n", len(beyond))
	for _, l := range beyond {
		fmt.Fprintf(o.Out, "WARNING:   %s\n", l)
	}
	return nil
}

type onions struct {
	tor *tor.Tor
	mu  sync.Mutex // serialises republishing of the journalist onion
	// keys are the client keys last published (guarded by mu).
	keys map[string]bool
}

// startOnions starts tor and publishes both services, and hooks the admin so
// that journalist changes republish the journalist onion.
func startOnions(ctx context.Context, a *admin.Admin, o Options, info Info, log *slog.Logger) (*onions, error) {
	fmt.Fprintln(o.Out, "Starting tor and waiting for it to bootstrap…")
	tr, err := tor.Start(ctx, tor.Options{DataDir: info.DataDir, ExePath: o.TorPath, Extra: a.Config().TorExtra, Logger: log})
	if err != nil {
		if errors.Is(err, tor.ErrNoTor) {
			return nil, configErr(fmt.Errorf("serve: %w; relay serve never runs without its onions (tests may pass --without-tor-for-tests-only)", err))
		}
		return nil, fmt.Errorf("serve: %w", err)
	}
	on := &onions{tor: tr}
	intake, err := tr.Publish(ctx, tor.Publish{
		Name: tor.Intake, Ports: map[int]string{IntakePort: info.IntakeAddr}, PoW: true, MaxStreams: intakeMaxStreams,
	})
	if err == nil {
		err = writeHostname(a, info.DataDir, "onion/intake.hostname", intake)
	}
	if err == nil {
		err = on.publishJournalist(ctx, a, info)
	}
	if err != nil {
		tr.Close()
		return nil, fmt.Errorf("serve: %w", err)
	}
	a.SetHooks(admin.Hooks{
		AccessChanged: func(ctx context.Context) error { return on.publishJournalist(ctx, a, info) },
		Tor: func() admin.TorStatus {
			p, summary := tr.Bootstrap()
			return admin.TorStatus{Bootstrap: p, Summary: summary,
				IntakeOnion: tr.Address(tor.Intake), JournalistOnion: tr.Address(tor.Journalist),
				AllowTorExtra: o.AllowTorExtra}
		},
	})
	// Waiting for the descriptors is for the announcement only: clients retry.
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer wcancel()
	for _, addr := range []string{intake, tr.Address(tor.Journalist)} {
		if addr != "" {
			if err := tr.WaitPublished(wctx, addr); err != nil {
				log.Warn("onion descriptor not built yet; it may take a while to be reachable", "err", err)
			}
		}
	}
	return on, nil
}

// publishJournalist (re)publishes the journalist onion for exactly the current
// journalists' client keys. With no journalist it publishes nothing.
func (on *onions) publishJournalist(ctx context.Context, a *admin.Admin, info Info) error {
	on.mu.Lock()
	defer on.mu.Unlock()
	js, err := a.Store().Journalists()
	if err != nil {
		return err
	}
	var keys []string
	for _, j := range js {
		if j.OnionAuthPublic != "" {
			keys = append(keys, j.OnionAuthPublic)
		}
	}
	ports := map[int]string{IMAPPort: info.IMAPAddr}
	if info.SMTPAddr != "" {
		ports[SMTPPort] = info.SMTPAddr
	}
	addr, err := on.tor.Publish(ctx, tor.Publish{
		Name:        tor.Journalist,
		Ports:       ports,
		RequireAuth: true,
		ClientAuth:  keys,
	})
	if err != nil {
		return err
	}
	// A key that is gone must lose the circuits it already has too.
	revoked := false
	for k := range on.keys {
		revoked = revoked || !slices.Contains(keys, k)
	}
	on.keys = map[string]bool{}
	for _, k := range keys {
		on.keys[k] = true
	}
	if revoked {
		onion := addr
		if onion == "" {
			onion = a.JournalistOnion()
		}
		if _, err := on.tor.CloseCircuits(onion); err != nil {
			return err
		}
	}
	if addr == "" {
		return nil
	}
	return writeHostname(a, info.DataDir, admin.JournalistOnionFile, addr)
}

func writeHostname(a *admin.Admin, dir, name, addr string) error {
	path := filepath.Join(dir, name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(addr+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	a.DayTimes(path, filepath.Dir(path))
	return nil
}

func addrOf(svcs []daemon.Service, name string) string {
	for _, s := range svcs {
		if s.Name == name && s.Listener != nil {
			return s.Listener.Addr().String()
		}
	}
	return ""
}

func announce(w io.Writer, info Info) {
	fmt.Fprintf(w, "Postern relay serving %s\n", info.DataDir)
	if info.IntakeOnion != "" {
		fmt.Fprintf(w, "  source form (give this address to sources): http://%s/\n", info.IntakeOnion)
	}
	if info.JournalistOnion != "" {
		fmt.Fprintf(w, "  journalist onion (client key required):      %s (IMAP %d, SMTP %d)\n", info.JournalistOnion, IMAPPort, SMTPPort)
	} else if info.IntakeOnion != "" {
		fmt.Fprintln(w, "  journalist onion: not published (no journalist yet)")
	}
	fmt.Fprintf(w, "  loopback: intake %s, IMAP %s, SMTP %s\n", info.IntakeAddr, info.IMAPAddr, info.SMTPAddr)
}
