package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"postern/relay/admin"
	"postern/relay/logging"
	"postern/relay/serve"
)

// cmdServe runs `relay serve`: the production relay behind its onions.
func (r *runner) cmdServe(args []string) error {
	f := r.newFlags("serve", true)
	intake := f.String("intake", "", "loopback address of the source web form (default: postern.conf)")
	imap := f.String("imap", "", "loopback address of IMAP (default: postern.conf)")
	smtp := f.String("smtp", "", "loopback address of SMTP (default: postern.conf)")
	public := f.Bool("dangerously-listen-beyond-loopback", false, "allow non-loopback listen addresses (never needed behind Tor)")
	noTor := f.Bool("without-tor-for-tests-only", false, "run the services with no tor and no onions (tests only)")
	torPath := f.String("tor", "", "the tor program (default: tor on $PATH)")
	allowExtra := f.Bool("allow-tor-extra", false, "DANGEROUS: put postern.conf's tor_extra lines into tor's configuration even when they are not a test-network include")
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	o := serve.Options{
		Dir: *f.data, Intake: *intake, IMAP: *imap, SMTP: *smtp,
		AllowNonLoopback: *public, WithoutTor: *noTor, TorPath: *torPath, AllowTorExtra: *allowExtra,
		Out: r.env.Stdout, Level: new(slog.LevelVar),
	}
	o.Logger = logging.New(r.env.Stderr, logging.Options{Level: o.Level})
	if *f.json {
		o.Out = r.env.Stderr
		o.Started = func(info serve.Info) {
			b, _ := json.Marshal(info)
			fmt.Fprintf(r.env.Stdout, "%s\n", b)
		}
	}
	return serve.Run(r.env.Context, o)
}

func (r *runner) cmdJournalistOnionKey(args []string) error {
	f, name, err := r.nameCommand("journalist onion-key", args)
	if err != nil {
		return err
	}
	return perform(r, f, func(ctx context.Context, ops admin.Ops) (admin.OnionKey, error) {
		return ops.JournalistOnionKey(ctx, name)
	}, func(w io.Writer, k admin.OnionKey) {
		fmt.Fprintf(w, "Journalist %s has a new onion client key; the old one no longer opens the journalist onion.\n"+
			"  onion key:   %s\n%s"+
			"Shown only now. 'relay journalist onboard %s --out DIR' writes a ready-made folder instead.\n",
			name, k.OnionAuthPrivate, authLine(k), name)
	})
}

func authLine(k admin.OnionKey) string {
	if k.JournalistOnion == "" {
		return "  (the journalist onion has no address until relay serve has run)\n"
	}
	return fmt.Sprintf("  auth file:   %s\n", authPrivate(k))
}

func (r *runner) cmdJournalistOnboard(args []string) error {
	const cmd = "journalist onboard"
	f := r.newFlags(cmd, true)
	out := f.String("out", "", "folder to create for the journalist (must not exist)")
	pos, err := f.parse(args, 1, "NAME")
	if err != nil {
		return err
	}
	if *out == "" {
		return usagef(cmd, "%s: --out DIR is required", cmd)
	}
	if err := admin.ValidName(pos[0]); err != nil {
		return usagef(cmd, "%v", err)
	}
	if err := checkNewDir(*out); err != nil {
		return err
	}
	ops, done, err := r.ops(*f.data)
	if err != nil {
		return err
	}
	defer done()
	ob, err := ops.JournalistOnboard(r.env.Context, pos[0])
	if err != nil {
		return err
	}
	if err := writeOnboarding(*out, ob); err != nil {
		return fmt.Errorf("onboarding folder: %v (the new passphrase below still holds)\npassphrase: %s", err, ob.Passphrase)
	}
	if *f.json {
		return r.printJSON(map[string]string{"name": ob.Name, "folder": *out, "passphrase": ob.Passphrase, "journalist_onion": ob.JournalistOnion})
	}
	fmt.Fprintf(r.env.Stdout, "Wrote %s for journalist %s: onion client key, Tor and Thunderbird instructions.\n"+
		"Their old passphrase and onion key no longer work.\n"+
		"  passphrase:  %s\n"+
		"The passphrase is shown only now and is not in the folder: tell it to %s apart from the folder.\n",
		*out, ob.Name, ob.Passphrase, ob.Name)
	return nil
}
