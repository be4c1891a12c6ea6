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

// Onboarding folder file names, besides NAME.auth_private.
const (
	onboardReadme = "README.txt"
	// Thunderbird reads an autoconfig file only from the "isp" directory of
	// its installation, named DOMAIN.xml, and applies it to addresses at
	// DOMAIN (there is no import): the folder carries it under that name.
	ispSuffix = ".xml"
)

// onboardFiles names the folder's files: the onion client key, the
// Thunderbird autoconfig and the guide.
func onboardFiles(ob admin.Onboarding) (key, isp string) {
	return ob.Name + ".auth_private", ob.MailDomain + ispSuffix
}

// newsroomAddress is the e-mail address a journalist types in Thunderbird:
// the one every submission is addressed to.
func newsroomAddress(ob admin.Onboarding) string { return "newsroom@" + ob.MailDomain }

// writeOnboarding writes the journalist's folder (0700, files 0600): the onion
// client key, the guide and Thunderbird's autoconfig file. The onion client
// key is only in NAME.auth_private (the guide refers to it, so forwarding or
// printing the guide leaks nothing); the passphrase is in no file.
func writeOnboarding(dir string, ob admin.Onboarding) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	autoconf, err := autoconfig(ob)
	if err != nil {
		return err
	}
	key, isp := onboardFiles(ob)
	files := map[string]string{
		key:           authPrivate(ob.OnionKey) + "\n",
		isp:           autoconf,
		onboardReadme: onboardingText(ob),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func onboardingText(ob admin.Onboarding) string {
	key, isp := onboardFiles(ob)
	return fmt.Sprintf(`Postern: setting up %[1]s's mail client
=================================================

Your newsroom's submissions arrive as encrypted mail in an IMAP mailbox that is
reachable only as a Tor onion service, and only with your onion client key.
This folder holds:

  %[8]s   your onion client key: keep it like a password; never
                  paste it into a message. Whoever holds it can reach the
                  mailbox's door (your passphrase still guards the mailbox).
  %[9]s   settings for Thunderbird (step 3)
  %[10]s        this guide (it holds no secret)

Journalist onion:  %[2]s
E-mail address:    %[11]s   (type this in Thunderbird)
User name:         %[1]s
Passphrase:        given to you separately (it is not in this folder)
Your OpenPGP key:  %[3]s (keep its secret half on your own machine only)
Submissions are encrypted to: %[4]s

1. Tor on your machine: EITHER a) Tor Browser OR b) the system tor
   a) Tor Browser. Thunderbird uses its tor (127.0.0.1:9150), so Tor Browser
      must be running whenever Thunderbird fetches mail.
      Settings > Privacy & Security > Onion Services Authentication >
      Saved Keys... > Add:
        Onion address:  %[2]s
        Private key:    open %[8]s in a text editor and copy
                        the 52 characters after its last colon.
      (Do not open the onion in Tor Browser: it serves mail, not web pages.)
   b) System tor (Debian/Ubuntu: sudo apt install tor; 127.0.0.1:9050).
      In a terminal, in this folder:
        sudo install -d -o debian-tor -g debian-tor -m 0700 /var/lib/tor/onion_auth
        sudo install -o debian-tor -g debian-tor -m 0600 %[8]s /var/lib/tor/onion_auth/
        echo 'ClientOnionAuthDir /var/lib/tor/onion_auth' | sudo tee -a /etc/tor/torrc
        sudo systemctl restart tor
      tor refuses a ClientOnionAuthDir that others can read: owner
      debian-tor and mode 0700 are required. Add the ClientOnionAuthDir line
      only once.

2. Thunderbird's proxy
   Settings > General > Network Settings > Settings...: Manual proxy
   configuration, SOCKS Host 127.0.0.1, Port 9150 (Tor Browser) or 9050
   (system tor), SOCKS v5, and tick "Proxy DNS when using SOCKS v5". Leave
   the HTTP proxy empty.

3. Thunderbird's account
   Optional, so Thunderbird fills in every server setting by itself: copy
   %[9]s into the "isp" folder of Thunderbird's installation
   (Linux: sudo cp %[9]s /usr/lib/thunderbird/isp/
    Windows: C:\Program Files\Mozilla Thunderbird\isp\
    macOS: /Applications/Thunderbird.app/Contents/Resources/isp/)
   and restart Thunderbird. It applies only to addresses @%[5]s.

   Account Settings > Account Actions > Add Mail Account:
     Your full name:  anything
     E-mail address:  %[11]s
     Password:        your passphrase
   With the file in place Thunderbird shows "Configuration found"; without it,
   choose "Configure manually" and enter:
     Incoming: IMAP, server %[2]s, port %[6]d, connection security None,
               authentication Normal password, user name %[1]s
     Outgoing: SMTP, server %[2]s, port %[7]d, connection security None,
               authentication Normal password, user name %[1]s
   Thunderbird warns that the connection is not encrypted: tick "I understand
   the risks". The onion itself encrypts and authenticates the connection;
   TLS would add nothing and needs a certificate for an onion name.

   Account Settings > End-To-End Encryption: Add Key > import your OpenPGP
   secret key. Thunderbird decrypts submissions with it.

4. Using it
   Each source is one thread. Open a submission: Thunderbird decrypts it with
   your key. Press Reply to answer: the relay encrypts your answer to the
   source's own key, and the source reads it after logging in with the codename.
   The source's key is attached to each submission if you prefer to encrypt
   the reply yourself.

Instead of Thunderbird: the offline reader keeps your secret key off every
network. On the online machine: relay reader init --from THIS-FOLDER
(see 'relay help reader'); it needs the system tor of step 1 b).

If this laptop is lost, tell your admin at once: 'relay journalist remove' or
'relay journalist onboard' cuts this key and passphrase off immediately.
`, ob.Name, ob.JournalistOnion, ob.Fingerprint, strings.Join(ob.SubmissionKeys, ", "), ob.MailDomain, serve.IMAPPort, serve.SMTPPort,
		key, isp, onboardReadme, newsroomAddress(ob))
}

// autoconfig is Thunderbird's autoconfig file (clientConfig 1.1) for the
// account, as its isp/DOMAIN.xml.
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
