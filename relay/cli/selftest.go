package cli

import (
	"errors"
	"fmt"
	"time"

	"postern/relay/config"
	"postern/relay/selftest"
	"postern/relay/tor"
)

// errSelftestFailed makes the exit status 1 after the failure was printed.
var errSelftestFailed = errors.New("selftest failed")

// cmdSelftest runs `relay selftest`: a canary through the intake onion,
// checked in the hidden selftest mailbox and removed (relay/selftest). It
// prints one line, "selftest passed" or "selftest failed: REASON", and
// exits 0 or 1: fit for cron and monitoring systems.
func (r *runner) cmdSelftest(args []string) error {
	f := r.newFlags("selftest", true)
	socks := f.String("socks", "127.0.0.1:9050", "tor's SOCKS port (the system tor's by default)")
	imap := f.String("imap", "", "loopback IMAP address of the relay (default: postern.conf)")
	timeout := f.Duration("timeout", 3*time.Minute, "give up after this long")
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	err := r.selftest(*f.data, *socks, *imap, *timeout)
	if *f.json {
		res := map[string]any{"passed": err == nil}
		if err != nil {
			res["reason"] = oneLine(err.Error())
		}
		if perr := r.printJSON(res); perr != nil {
			return perr
		}
	} else if err == nil {
		fmt.Fprintln(r.env.Stdout, "selftest passed")
	} else {
		fmt.Fprintf(r.env.Stdout, "selftest failed: %s\n", oneLine(err.Error()))
	}
	if err != nil {
		return errSelftestFailed
	}
	return nil
}

func (r *runner) selftest(dir, socks, imap string, timeout time.Duration) error {
	cfg, err := config.Load(dir)
	if err != nil {
		return err
	}
	if imap == "" {
		imap = cfg.IMAPListen
	}
	onion, err := tor.KeyAddress(dir, tor.Intake)
	if err != nil {
		return err
	}
	return selftest.Check(r.env.Context, selftest.Options{DataDir: dir, Socks: socks, IntakeOnion: onion, IMAP: imap, Timeout: timeout})
}
