package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"postern/mailbox/reader/online"
	"postern/relay/admin"
)

// readerCommands are `relay reader …`: the journalist's offline reader.
// These are its online half (init, sync, send); it holds no secret key.
func readerCommands() []command {
	return []command{
		{"reader init", "--dir DIR (--from ONBOARD_DIR | --user NAME) [--json]",
			"make a reader home from the folder of 'journalist onboard' (or, for the loopback demo, a user name)", (*runner).cmdReaderInit},
		{"reader sync", "--dir DIR [--proxy socks5://127.0.0.1:9050 | --direct HOST:PORT] [--passphrase-file F] [--json]",
			"copy new mail of INBOX and Sent, as the relay's ciphertext, into DIR/maildir over Tor; resumable", (*runner).cmdReaderSync},
		{"reader send", "--dir DIR --outbox OUTBOX [--proxy socks5://… | --direct HOST:PORT] [--passphrase-file F] [--json]",
			"submit each OUTBOX/*.eml through the relay's SMTP and move it to OUTBOX/sent/; sending twice stores once", (*runner).cmdReaderSend},
	}
}

func (r *runner) cmdReaderInit(args []string) error {
	const cmd = "reader init"
	f := r.newFlags(cmd, false)
	dir := f.String("dir", "", "the reader home to create")
	from := f.String("from", "", "the folder `relay journalist onboard` wrote")
	user := f.String("user", "", "journalist name, for the loopback demo (no onion)")
	if _, err := f.parse(args, 0, ""); err != nil {
		return err
	}
	if *dir == "" {
		return usagef(cmd, "%s: --dir DIR is required", cmd)
	}
	if (*from == "") == (*user == "") {
		return usagef(cmd, "%s: give either --from ONBOARD_DIR or --user NAME", cmd)
	}
	var ob online.Onboarding
	if *from != "" {
		var err error
		if ob, err = online.ReadOnboarding(*from); err != nil {
			return err
		}
	} else {
		if err := admin.ValidName(*user); err != nil {
			return usagef(cmd, "%v", err)
		}
		ob.User, ob.IMAPPort, ob.SMTPPort = *user, 143, 587
	}
	h, err := online.Init(*dir, ob)
	if err != nil {
		return fmt.Errorf("reader init: %w", err)
	}
	abs, _ := filepath.Abs(*dir)
	if *f.json {
		return r.printJSON(map[string]any{"dir": abs, "home": h})
	}
	w := r.env.Stdout
	fmt.Fprintf(w, "Reader home for %s made in %s (no passphrase or secret key is kept there).\n", h.User, abs)
	if h.Onion == "" {
		fmt.Fprintf(w, "No journalist onion: this home is for the loopback demo; sync and send need --direct HOST:PORT.\n")
	} else {
		fmt.Fprintf(w, "Journalist onion: %s (IMAP %d, SMTP %d), through Tor's SOCKS port %s.\n%s\n", h.Onion, h.IMAPPort, h.SMTPPort, h.SOCKS, h.SOCKSAdvice)
	}
	fmt.Fprintf(w, "Next: relay reader sync --dir %s\n", *dir)
	return nil
}

// readerNet holds what sync and send share: the home, how to reach the
// relay, the passphrase.
type readerNet struct {
	home online.Home
	dir  string
	dial online.DialFunc
	pass []byte
}

func (r *runner) readerFlags(cmd string, f *flags, args []string, port func(online.Home) int) (*readerNet, error) {
	dir := f.String("dir", "", "the reader home")
	proxy := f.String("proxy", "", "Tor's SOCKS port (default: reader.json's, socks5://127.0.0.1:9050)")
	direct := f.String("direct", "", "HOST:PORT of the relay's service without Tor (the loopback demo)")
	passFile := f.String("passphrase-file", "", "file whose first line is the journalist's passphrase (default: asked on the terminal)")
	if _, err := f.parse(args, 0, ""); err != nil {
		return nil, err
	}
	if *dir == "" {
		return nil, usagef(cmd, "%s: --dir DIR is required", cmd)
	}
	if *proxy != "" && *direct != "" {
		return nil, usagef(cmd, "%s: give --proxy or --direct, not both", cmd)
	}
	h, err := online.LoadHome(*dir)
	if err != nil {
		return nil, err
	}
	rn := &readerNet{home: h, dir: *dir}
	switch {
	case *direct != "":
		if _, _, err := net.SplitHostPort(*direct); err != nil {
			return nil, usagef(cmd, "%s: --direct wants HOST:PORT, not %q", cmd, clip(*direct))
		}
		rn.dial = online.Direct(*direct)
	case h.Onion == "":
		return nil, usagef(cmd, "%s: this reader home has no journalist onion (it was made with --user): give --direct HOST:PORT", cmd)
	default:
		p := h.SOCKS
		if *proxy != "" {
			p = *proxy
		}
		addr, err := online.ParseProxy(p)
		if err != nil {
			return nil, usagef(cmd, "%s: %v", cmd, err)
		}
		if rn.dial, err = online.ViaSOCKS(addr, net.JoinHostPort(h.Onion, strconv.Itoa(port(h)))); err != nil {
			return nil, err
		}
	}
	if rn.pass, err = r.journalistPassphrase(h.User, *passFile); err != nil {
		return nil, err
	}
	return rn, nil
}

// journalistPassphrase reads the passphrase from file, or asks for it on
// the terminal with echo off. It is never stored.
func (r *runner) journalistPassphrase(user, file string) ([]byte, error) {
	if file != "" {
		fh, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("cannot read the passphrase file: %v", err)
		}
		defer fh.Close()
		p, err := readLine(fh)
		if err != nil {
			return nil, fmt.Errorf("passphrase file %s: %v", file, err)
		}
		return p, nil
	}
	tty, ok := r.env.Stdin.(*os.File)
	if !ok || !isTerminal(tty) {
		return nil, errors.New("no terminal to ask the passphrase on: give --passphrase-file F")
	}
	fmt.Fprintf(r.env.Stderr, "Passphrase of %s on the relay: ", user)
	var line []byte
	err := withoutEcho(tty, func() error {
		var err error
		line, err = readLine(tty)
		return err
	})
	fmt.Fprintln(r.env.Stderr)
	return line, err
}

// loginError words a refused login; any other failure keeps what was
// done before it (sync: the messages copied; send: the files sent).
func loginError(err error, user string) error {
	if errors.Is(err, online.ErrLogin) {
		return fmt.Errorf("the relay refused %s's passphrase (or the user name); nothing was changed", user)
	}
	return fmt.Errorf("%w (what was done is kept; run it again to go on)", err)
}

// jsonLines writes one JSON object a line, for --json.
func jsonLines(w io.Writer) func(v any) {
	enc := json.NewEncoder(w)
	return func(v any) { enc.Encode(v) }
}
