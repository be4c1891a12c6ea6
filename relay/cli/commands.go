package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"postern/relay/admin"
	"postern/relay/config"
	"postern/relay/ctl"
	"postern/relay/logging"
)

// maxKeyFile bounds what is read as a public key (mailbox/pgp refuses more).
const maxKeyFile = 1 << 20

// directLockTimeout is how long a CLI command waits for the database lock
// when no daemon answers: short, since a daemon holds it for good.
const directLockTimeout = time.Second

// ops returns the admin operations for dir: through the control socket of
// a running relay, or on the store opened directly. close releases it.
func (r *runner) ops(dir string) (admin.Ops, func(), error) {
	ctx := r.env.Context
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, nil, fmt.Errorf("data directory %s is not a directory", dir)
	}
	c, err := ctl.Dial(ctx, dir)
	if err == nil {
		return c, func() {}, nil
	}
	if !errors.Is(err, ctl.ErrNoDaemon) {
		return nil, nil, err
	}
	log := logging.New(r.env.Stderr, logging.Options{Level: levelWarn})
	a, err := admin.Open(dir, admin.Options{Logger: log, LockTimeout: directLockTimeout})
	if errors.Is(err, admin.ErrLocked) {
		return nil, nil, fmt.Errorf("%v, but no relay answers on %s; is one starting or stopping? Try again in a moment", err, ctl.Path(dir))
	}
	if err != nil {
		return nil, nil, err
	}
	return a, func() { a.Close() }, nil
}

// readKey reads a public key from a file or, for "-", from stdin.
func (r *runner) readKey(cmd, path string) ([]byte, error) {
	if path == "" {
		return nil, usagef(cmd, "%s: --key FILE is required (use - for stdin)", cmd)
	}
	var in io.Reader = r.env.Stdin
	name := "standard input"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("cannot read key file: %v", err)
		}
		defer f.Close()
		in, name = f, path
	}
	b, err := io.ReadAll(io.LimitReader(in, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read key from %s: %v", name, err)
	}
	switch {
	case len(b) == 0:
		return nil, fmt.Errorf("the key in %s is empty", name)
	case len(b) > maxKeyFile:
		return nil, fmt.Errorf("the key in %s is larger than 1 MiB; export only the public key", name)
	}
	return b, nil
}

// printJSON writes v as indented JSON.
func (r *runner) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(r.env.Stdout, "%s\n", b)
	return err
}

func (r *runner) cmdInit(args []string) error {
	f := r.newFlags("init", true)
	seed := f.String("config", "", "settings file to start from (its values are validated and rewritten with documentation)")
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	cfg := config.Default()
	if *seed != "" {
		var err error
		if cfg, err = loadSeed(*seed); err != nil {
			return err
		}
	}
	dir, err := filepath.Abs(*f.data)
	if err != nil {
		return err
	}
	log := logging.New(r.env.Stderr, logging.Options{Level: levelWarn})
	a, err := admin.Init(dir, cfg, admin.InitOptions{Options: admin.Options{Logger: log}})
	if err != nil {
		return err
	}
	fp := a.InstanceFingerprint()
	a.Close()
	if *f.json {
		return r.printJSON(map[string]string{"data_dir": dir, "config_file": filepath.Join(dir, config.FileName), "instance_fingerprint": fp})
	}
	fmt.Fprintf(r.env.Stdout, "Created a Postern instance in %s.\n"+
		"Settings: %s (every setting is documented there; source_kdf_* are now fixed).\n"+
		"Instance fingerprint: %s\n"+
		"  (it signs every backup; restore asks for it: write it down apart from the backups)\n"+
		"Next: relay journalist add NAME --key PUBLIC-KEY-FILE --data %s\n",
		dir, filepath.Join(dir, config.FileName), fp, dir)
	return nil
}

func (r *runner) cmdJournalistAdd(args []string) error {
	f, name, kb, err := r.keyCommand("journalist add", args)
	if err != nil {
		return err
	}
	return perform(r, f, func(ctx context.Context, ops admin.Ops) (admin.JournalistAdded, error) {
		return ops.JournalistAdd(ctx, name, kb)
	}, func(w io.Writer, res admin.JournalistAdded) {
		// The passphrase and onion key made here are not printed: the next
		// step, onboard, replaces both, and a newcomer handed two sets
		// gives the journalist the wrong one. --json still carries them
		// for scripts that set up a client without onboarding.
		j := res.Journalist
		fmt.Fprintf(w, "Journalist %s added.\n"+
			"  key:         %s (%s)\n"+
			"Next: 'relay journalist onboard %s --out DIR' writes %s's setup folder and prints\n"+
			"the passphrase to use (relay serve must have published the journalist onion\n"+
			"once: start it now if it is not running). No passphrase or onion key is shown\n"+
			"here: onboard makes the ones %s will use.\n",
			j.Name, j.Fingerprint, expiry(j.KeyExpires), j.Name, j.Name, j.Name)
	})
}

func expiry(day string) string {
	if day == "" {
		return "does not expire"
	}
	return "expires " + day
}

func (r *runner) cmdJournalistList(args []string) error {
	f := r.newFlags("journalist list", true)
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	return listing(r, f, admin.Ops.JournalistList, "No journalists.", func(w io.Writer, list []admin.JournalistInfo) {
		fmt.Fprintf(w, "%-20s %-40s %-11s %s\n", "NAME", "KEY FINGERPRINT", "KEY EXPIRES", "ADDED")
		for _, j := range list {
			exp := j.KeyExpires
			if exp == "" {
				exp = "never"
			}
			fmt.Fprintf(w, "%-20s %-40s %-11s %s\n", j.Name, j.Fingerprint, exp, j.Created)
		}
	})
}

// perform runs one admin operation, through the running relay or on the
// store, and prints its result: JSON with --json, else what human writes.
func perform[T any](r *runner, f *flags, op func(context.Context, admin.Ops) (T, error), human func(io.Writer, T)) error {
	ops, done, err := r.ops(*f.data)
	if err != nil {
		return err
	}
	defer done()
	res, err := op(r.env.Context, ops)
	if err != nil {
		return err
	}
	if *f.json {
		return r.printJSON(res)
	}
	human(r.env.Stdout, res)
	return nil
}

// listing is perform for a list: JSON [] rather than null, and none
// printed instead of an empty table.
func listing[T any](r *runner, f *flags, list func(admin.Ops, context.Context) ([]T, error), none string, human func(io.Writer, []T)) error {
	return perform(r, f, func(ctx context.Context, ops admin.Ops) ([]T, error) {
		l, err := list(ops, ctx)
		if l == nil {
			l = []T{}
		}
		return l, err
	}, func(w io.Writer, l []T) {
		if len(l) == 0 {
			fmt.Fprintln(w, none)
			return
		}
		human(w, l)
	})
}

// keyCommand parses a command taking NAME and --key FILE|- and reads the key.
func (r *runner) keyCommand(cmd string, args []string) (*flags, string, []byte, error) {
	f := r.newFlags(cmd, true)
	key := f.String("key", "", "OpenPGP public key file, or - for stdin")
	pos, err := f.parse(args, 1, "NAME")
	if err != nil {
		return nil, "", nil, err
	}
	if err := admin.ValidName(pos[0]); err != nil {
		return nil, "", nil, usagef(cmd, "%v", err)
	}
	kb, err := r.readKey(cmd, *key)
	if err != nil {
		return nil, "", nil, err
	}
	return f, pos[0], kb, nil
}

// nameCommand parses a command taking exactly NAME.
func (r *runner) nameCommand(cmd string, args []string) (*flags, string, error) {
	f := r.newFlags(cmd, true)
	pos, err := f.parse(args, 1, "NAME")
	if err != nil {
		return nil, "", err
	}
	if err := admin.ValidName(pos[0]); err != nil {
		return nil, "", usagef(cmd, "%v", err)
	}
	return f, pos[0], nil
}

func (r *runner) cmdJournalistRemove(args []string) error {
	f, name, err := r.nameCommand("journalist remove", args)
	if err != nil {
		return err
	}
	return perform(r, f, func(ctx context.Context, ops admin.Ops) (map[string]string, error) {
		return map[string]string{"removed": name}, ops.JournalistRemove(ctx, name)
	}, func(w io.Writer, _ map[string]string) {
		fmt.Fprintf(w, "Journalist %s removed: their mailboxes, passphrase and onion access are gone.\n", name)
	})
}

func (r *runner) cmdJournalistPasswd(args []string) error {
	f, name, err := r.nameCommand("journalist passwd", args)
	if err != nil {
		return err
	}
	return perform(r, f, func(ctx context.Context, ops admin.Ops) (admin.NewPassphrase, error) {
		return ops.JournalistPasswd(ctx, name)
	}, func(w io.Writer, res admin.NewPassphrase) {
		fmt.Fprintf(w, "New passphrase for %s (shown only now; the old one no longer works):\n  %s\n", name, res.Passphrase)
	})
}

func (r *runner) cmdJournalistSetKey(args []string) error {
	f, name, kb, err := r.keyCommand("journalist set-key", args)
	if err != nil {
		return err
	}
	return perform(r, f, func(ctx context.Context, ops admin.Ops) (admin.JournalistInfo, error) {
		return ops.JournalistSetKey(ctx, name, kb)
	}, func(w io.Writer, info admin.JournalistInfo) {
		fmt.Fprintf(w, "Key of %s replaced: %s (%s). New submissions are encrypted to it.\n",
			info.Name, info.Fingerprint, expiry(info.KeyExpires))
	})
}

func (r *runner) cmdStatus(args []string) error {
	f := r.newFlags("status", true)
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	ops, done, err := r.ops(*f.data)
	if err != nil {
		return err
	}
	defer done()
	st, err := ops.Status(r.env.Context)
	if err != nil {
		return err
	}
	if *f.json {
		return r.printJSON(st)
	}
	w := r.env.Stdout
	running := "no (opened directly)"
	if st.Running {
		running = "yes"
	}
	retention := fmt.Sprintf("%d days", st.RetentionDays)
	if st.RetentionDays == 0 {
		retention = "forever"
	}
	fmt.Fprintf(w, "Postern relay %s (%s)\n", st.Version, st.GoVersion)
	fmt.Fprintf(w, "  data directory:  %s\n  relay running:   %s\n  mail domain:     %s\n", st.DataDir, running, st.MailDomain)
	fmt.Fprintf(w, "  instance:        %s\n", st.InstanceFingerprint)
	fmt.Fprintf(w, "  schema:          %d\n  source KDF:      %s\n  retention:       %s\n", st.Schema, st.SourceKDF, retention)
	fmt.Fprintf(w, "  tor_extra:       %s\n", torExtraLine(st))
	fmt.Fprintf(w, "  journalists:     %d\n  sources:         %d\n  messages:        %d\n  replies:         %d\n",
		st.Journalists, st.Sources, st.Messages, st.Replies)
	fmt.Fprintf(w, "  stored blobs:    %d (%s)\n", st.Blobs, humanBytes(st.BlobBytes))
	fmt.Fprintf(w, "  pending:         %s\n", pendingLine(st))
	printRetention(w, st)
	printDeskStatus(w, st.Desks)
	printLanguages(w, st)
	if t := st.Tor; t != nil {
		fmt.Fprintf(w, "  tor:             %d%% bootstrapped (%s)\n", t.Bootstrap, t.Summary)
	} else {
		fmt.Fprintln(w, "  tor:             not running (relay serve is stopped, or runs without tor); the addresses are fixed by the keys in DATA/onion")
	}
	fmt.Fprintf(w, "  intake onion:    %s\n  journalist onion: %s\n",
		onionOr(st.IntakeOnion, "(none yet: relay serve creates it at its first start)"),
		onionOr(st.JournalistOnion, "(none yet: relay serve publishes it once a journalist exists)"))
	for _, warn := range st.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
	return nil
}

// pendingLine says how many submissions wait for the delivery window.
func pendingLine(st admin.Status) string {
	if st.DeliveryWindowMinutes == 0 {
		return fmt.Sprintf("%d (no delivery window: submissions are delivered at once)", st.Pending)
	}
	return fmt.Sprintf("%d submission(s), released every %d minutes", st.Pending, st.DeliveryWindowMinutes)
}

func torExtraLine(st admin.Status) string {
	s := "none"
	if len(st.TorExtra) > 0 {
		s = fmt.Sprintf("%d line(s), %d beyond a test-network include", len(st.TorExtra), len(st.TorExtraBeyondTestNetwork))
	}
	if st.Tor != nil && st.Tor.AllowTorExtra {
		s += "; relay serve runs with --allow-tor-extra"
	}
	return s
}

func onionOr(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func (r *runner) cmdVersion(args []string) error {
	f := r.newFlags("version", false)
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	if *f.json {
		return r.printJSON(map[string]string{"version": admin.Version, "go": runtime.Version()})
	}
	fmt.Fprintf(r.env.Stdout, "relay %s (%s)\n", admin.Version, runtime.Version())
	return nil
}

func (r *runner) cmdHelp(args []string) error {
	if len(args) == 0 {
		r.printUsage(r.env.Stdout)
		return nil
	}
	name := args[0]
	if len(args) > 1 {
		name += " " + args[1]
	}
	if !r.printCommandHelp(r.env.Stdout, name) && !r.printCommandHelp(r.env.Stdout, args[0]) {
		return usagef("", "help: unknown command %q", clip(name))
	}
	return nil
}
