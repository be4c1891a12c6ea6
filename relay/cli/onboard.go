package cli

import (
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"postern/relay/admin"
	"postern/relay/serve"
)

// authPrivate is the key in tor's ClientOnionAuthDir format.
func authPrivate(k admin.OnionKey) string {
	return strings.TrimSuffix(k.JournalistOnion, ".onion") + ":descriptor:x25519:" + k.OnionAuthPrivate
}

func checkNewDir(dir string) error {
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("%s already exists; onboarding writes a new folder", dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// writeOnboarding writes the journalist's folder (0700, files 0600): the onion
// client key, the instructions and a Thunderbird autoconfig file. The
// passphrase is deliberately not in it.
func writeOnboarding(dir string, ob admin.Onboarding) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	autoconf, err := autoconfig(ob)
	if err != nil {
		return err
	}
	files := map[string]string{
		ob.Name + ".auth_private": authPrivate(ob.OnionKey) + "\n",
		"config-v1.1.xml":         autoconf,
		"README.txt":              onboardingText(ob),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func onboardingText(ob admin.Onboarding) string {
	host := ob.JournalistOnion
	return fmt.Sprintf(`Postern: setting up %[1]s's mail client
=================================================

Your newsroom's submissions arrive as encrypted mail in an IMAP mailbox that is
reachable only as a Tor onion service, and only with the key in this folder.

Journalist onion:  %[2]s
User name:         %[1]s
Passphrase:        given to you separately (it is not in this folder)
Your OpenPGP key:  %[3]s (keep its secret half on your own machine only)
Submissions are encrypted to: %[4]s

1. Tor on your machine
   Either Tor Browser (its tor listens on 127.0.0.1:9150) or the system tor
   (Debian: apt install tor; it listens on 127.0.0.1:9050).

   Give tor your onion client key, %[1]s.auth_private:
   - system tor: add to /etc/tor/torrc the line
         ClientOnionAuthDir /var/lib/tor/onion_auth
     copy %[1]s.auth_private into that directory (owner debian-tor, mode 0600)
     and run: systemctl reload tor
   - Tor Browser: open http://%[2]s/ once; when it asks for a key, paste
         %[5]s
     and tick "Remember this key". (Tor Browser's tor is then used by Thunderbird
     only while Tor Browser runs.)

2. Thunderbird
   Settings > General > Network Settings: Manual proxy configuration,
   SOCKS host 127.0.0.1, port 9050 (system tor) or 9150 (Tor Browser), SOCKS v5,
   and tick "Proxy DNS when using SOCKS v5". Leave HTTP proxy empty.

   New mail account (or import config-v1.1.xml with an autoconfig add-on):
     Incoming: IMAP, server %[2]s, port %[6]d, connection security None,
               authentication Normal password, user name %[1]s
     Outgoing: SMTP, server %[2]s, port %[7]d, connection security None,
               authentication Normal password, user name %[1]s
   The onion itself encrypts and authenticates the connection; TLS would add
   nothing and needs a certificate for an onion name.

   Account Settings > End-To-End Encryption: add your OpenPGP key.

3. Using it
   Each source is one thread. Open a submission: Thunderbird decrypts it with
   your key. Press Reply to answer: the relay encrypts your answer to the
   source's own key, and the source reads it after logging in with the codename.
   The source's key is attached to each submission if you prefer to encrypt
   the reply yourself.

If this laptop is lost, tell your admin at once: 'relay journalist remove' or
'relay journalist onboard' cuts this key and passphrase off immediately.
`, ob.Name, host, ob.Fingerprint, strings.Join(ob.SubmissionKeys, ", "), ob.OnionAuthPrivate, serve.IMAPPort, serve.SMTPPort)
}

// autoconfig is Thunderbird's autoconfig (config-v1.1.xml) for the account.
func autoconfig(ob admin.Onboarding) (string, error) {
	type server struct {
		Type     string `xml:"type,attr"`
		Hostname string `xml:"hostname"`
		Port     int    `xml:"port"`
		Socket   string `xml:"socketType"`
		Auth     string `xml:"authentication"`
		Username string `xml:"username"`
	}
	type provider struct {
		ID          string `xml:"id,attr"`
		Domain      string `xml:"domain"`
		DisplayName string `xml:"displayName"`
		Incoming    server `xml:"incomingServer"`
		Outgoing    server `xml:"outgoingServer"`
	}
	type clientConfig struct {
		XMLName  xml.Name `xml:"clientConfig"`
		Version  string   `xml:"version,attr"`
		Provider provider `xml:"emailProvider"`
	}
	c := clientConfig{Version: "1.1", Provider: provider{
		ID: ob.MailDomain, Domain: ob.MailDomain, DisplayName: "Postern (" + ob.Name + ")",
		Incoming: server{Type: "imap", Hostname: ob.JournalistOnion, Port: serve.IMAPPort, Socket: "plain", Auth: "password-cleartext", Username: ob.Name},
		Outgoing: server{Type: "smtp", Hostname: ob.JournalistOnion, Port: serve.SMTPPort, Socket: "plain", Auth: "password-cleartext", Username: ob.Name},
	}}
	b, err := xml.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	return xml.Header + string(b) + "\n", nil
}
