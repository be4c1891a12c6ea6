// Package online is the networked half of the offline reader (`relay
// reader init`, `sync` and `send`): a reader home on the journalist's
// online machine, an IMAP client that copies the ciphertext of INBOX and
// Sent into a Maildir, and an SMTP client that submits the replies written
// on the air-gapped machine. It holds no secret key: what it copies and
// sends is already encrypted. The journalist's passphrase is asked for at
// each run and never written down.
//
// The Maildir is the contract with the offline half (export): HOME/maildir/
// MAILBOX/{cur,new,tmp}, MAILBOX being "INBOX" or "Sent", each message in
// cur/UIDVALIDITY-UID:2, holding the exact bytes the relay stores, written
// to tmp/ first and renamed only once complete and fsynced.
package online

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Files and folders of a reader home.
const (
	HomeFile    = "reader.json"
	StateFile   = "sync-state.json"
	MaildirName = "maildir"
	authDir     = "onion-auth"
	homeVersion = 1
)

// Mailboxes are the folders sync copies, by their names on the relay (and
// in the Maildir).
var Mailboxes = []string{"INBOX", "Sent"}

// DefaultSOCKS is the system tor's SOCKS port (Tor Browser's is 9150).
const DefaultSOCKS = "socks5://127.0.0.1:9050"

// Home is reader.json: where the relay is and who logs in. Nothing in it
// is secret beyond what the admin's onboarding folder already held (the
// onion client key sits in its own file, named here).
type Home struct {
	Version int    `json:"version"`
	User    string `json:"user"`
	// Onion is the journalist onion ("" for the loopback demo: then every
	// sync and send needs --direct).
	Onion    string `json:"journalist_onion"`
	IMAPPort int    `json:"imap_port"`
	SMTPPort int    `json:"smtp_port"`
	// ClientAuthFile is the copied onion client key, relative to the home.
	ClientAuthFile string `json:"client_auth_file,omitempty"`
	SOCKS          string `json:"socks"`
	SOCKSAdvice    string `json:"socks_advice"`
}

// Onboarding is what `relay journalist onboard` wrote: the parts the
// reader uses.
type Onboarding struct {
	Home
	ClientAuth []byte // the line of NAME.auth_private
}

var (
	nameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	onionRE = regexp.MustCompile(`^[a-z2-7]{56}\.onion$`)
	authRE  = regexp.MustCompile(`^([a-z2-7]{56}):descriptor:x25519:[A-Z2-7]{52}$`)
)

// ReadOnboarding reads an onboarding folder: its Thunderbird account file
// (MAIL_DOMAIN.xml, or config-v1.1.xml in folders made before) for the
// onion, the ports and the user name, NAME.auth_private for the onion
// client key.
func ReadOnboarding(dir string) (Onboarding, error) {
	var ob Onboarding
	xmls, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil || len(xmls) != 1 {
		return ob, fmt.Errorf("%s is not an onboarding folder of `relay journalist onboard` (it must hold one Thunderbird account file, MAIL_DOMAIN.xml)", dir)
	}
	accountFile := filepath.Base(xmls[0])
	raw, err := os.ReadFile(xmls[0])
	if err != nil {
		return ob, fmt.Errorf("%s is not an onboarding folder of `relay journalist onboard`: %w", dir, err)
	}
	type server struct {
		Hostname string `xml:"hostname"`
		Port     int    `xml:"port"`
		Username string `xml:"username"`
	}
	var c struct {
		Provider struct {
			Incoming server `xml:"incomingServer"`
			Outgoing server `xml:"outgoingServer"`
		} `xml:"emailProvider"`
	}
	if err := xml.Unmarshal(raw, &c); err != nil {
		return ob, fmt.Errorf("%s/%s: %w", dir, accountFile, err)
	}
	in, out := c.Provider.Incoming, c.Provider.Outgoing
	if !onionRE.MatchString(in.Hostname) || in.Port <= 0 || in.Port > 65535 || out.Port <= 0 || out.Port > 65535 || !nameRE.MatchString(in.Username) {
		return ob, fmt.Errorf("%s/%s does not name a journalist onion, ports and user", dir, accountFile)
	}
	authPath := filepath.Join(dir, in.Username+".auth_private")
	key, err := os.ReadFile(authPath)
	if err != nil {
		return ob, fmt.Errorf("the onion client key: %w", err)
	}
	line := strings.TrimSpace(string(key))
	m := authRE.FindStringSubmatch(line)
	if m == nil || m[1]+".onion" != in.Hostname {
		return ob, fmt.Errorf("%s is not a client key for %s", authPath, in.Hostname)
	}
	ob.Home = Home{User: in.Username, Onion: in.Hostname, IMAPPort: in.Port, SMTPPort: out.Port}
	ob.ClientAuth = []byte(line + "\n")
	return ob, nil
}

// Init makes a reader home in dir (absent or empty): reader.json, the
// Maildir folders and, with a client key, onion-auth/USER.auth_private.
// Folders are 0700, files 0600.
func Init(dir string, ob Onboarding) (Home, error) {
	h := ob.Home
	if !nameRE.MatchString(h.User) {
		return h, fmt.Errorf("%q is not a journalist's user name", h.User)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return h, err
	}
	if es, err := os.ReadDir(dir); err != nil {
		return h, err
	} else if len(es) > 0 {
		return h, fmt.Errorf("%s is not empty; a reader home starts in a new or empty folder", dir)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return h, err
	}
	h.Version = homeVersion
	if h.SOCKS == "" {
		h.SOCKS = DefaultSOCKS
	}
	h.SOCKSAdvice = "Tor's SOCKS port: the system tor listens on 127.0.0.1:9050, Tor Browser's on 127.0.0.1:9150 (sync --proxy socks5://127.0.0.1:9150)."
	if len(ob.ClientAuth) > 0 {
		if err := os.Mkdir(filepath.Join(dir, authDir), 0o700); err != nil {
			return h, err
		}
		h.ClientAuthFile = filepath.Join(authDir, h.User+".auth_private")
		h.SOCKSAdvice += " Give tor the onion client key " + h.ClientAuthFile + ": put it in tor's ClientOnionAuthDir (torrc: ClientOnionAuthDir /var/lib/tor/onion_auth; owner debian-tor, mode 0600) and reload tor."
		if err := writeFileSync(filepath.Join(dir, h.ClientAuthFile), ob.ClientAuth); err != nil {
			return h, err
		}
	}
	for _, mb := range Mailboxes {
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(dir, MaildirName, mb, sub), 0o700); err != nil {
				return h, err
			}
		}
	}
	os.Chmod(filepath.Join(dir, MaildirName), 0o700)
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return h, err
	}
	if err := writeFileSync(filepath.Join(dir, HomeFile), append(b, '\n')); err != nil {
		return h, err
	}
	return h, syncDir(dir)
}

// LoadHome reads dir/reader.json.
func LoadHome(dir string) (Home, error) {
	var h Home
	raw, err := os.ReadFile(filepath.Join(dir, HomeFile))
	if errors.Is(err, os.ErrNotExist) {
		return h, fmt.Errorf("%s is not a reader home (no %s): run `relay reader init --dir %s` first", dir, HomeFile, dir)
	}
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, fmt.Errorf("%s: %w", filepath.Join(dir, HomeFile), err)
	}
	if h.Version != homeVersion || !nameRE.MatchString(h.User) {
		return h, fmt.Errorf("%s: not a reader home of this version", filepath.Join(dir, HomeFile))
	}
	return h, nil
}

// writeFileSync writes a new file (0600) and fsyncs it.
func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir fsyncs a directory, so the names created or renamed in it last.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
