package selftest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"golang.org/x/net/proxy"

	"postern/mailbox/pgpmime"
)

// Options configure Check.
type Options struct {
	DataDir string
	// Socks is tor's SOCKS port ("127.0.0.1:9050"): the canary goes out and
	// comes back in through the Tor network, as a source's post does.
	Socks string
	// IntakeOnion is the intake onion's address ("….onion").
	IntakeOnion string
	// IMAP is the relay's loopback IMAP address.
	IMAP string
	// Timeout bounds the whole check; default 3 minutes.
	Timeout time.Duration
}

// Check posts a canary through the intake onion, waits until it arrived
// encrypted in the hidden account's INBOX, decrypts it, and removes every
// canary there. The error is one line saying which step failed.
func Check(ctx context.Context, o Options) error {
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	sec, key, err := Load(o.DataDir)
	if err != nil {
		return err
	}
	if o.IntakeOnion == "" {
		return errors.New("the intake onion has no address yet: relay serve has not run")
	}
	nb := make([]byte, 16)
	if _, err := rand.Read(nb); err != nil {
		return err
	}
	nonce := hex.EncodeToString(nb)
	if err := post(ctx, o, sec.Token(), nonce); err != nil {
		return err
	}
	return fetchAndRemove(ctx, o.IMAP, sec.Passphrase(), key, nonce)
}

// post sends the canary through tor. Onion circuits fail now and then, so
// it tries again until ctx ends.
func post(ctx context.Context, o Options, token, nonce string) error {
	d, err := proxy.SOCKS5("tcp", o.Socks, nil, proxy.Direct)
	if err != nil {
		return fmt.Errorf("tor SOCKS %s: %v", o.Socks, err)
	}
	cd := d.(proxy.ContextDialer)
	c := &http.Client{Transport: &http.Transport{DialContext: cd.DialContext, DisableKeepAlives: true}}
	form := url.Values{"token": {token}, "nonce": {nonce}}.Encode()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+o.IntakeOnion+Path, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return nil
			}
			return fmt.Errorf("intake onion refused the canary: %s", resp.Status)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("intake onion unreachable through tor SOCKS %s: %v", o.Socks, oneLine(err))
		case <-time.After(2 * time.Second):
		}
	}
}

// fetchAndRemove logs in as the hidden account, waits for the canary with
// nonce, checks that it is PGP/MIME that key opens, and expunges every
// message of the hidden INBOX.
func fetchAndRemove(ctx context.Context, addr, pass string, key *openpgp.Entity, nonce string) error {
	var dl net.Dialer
	conn, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("imap %s: %v", addr, oneLine(err))
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	if err := c.Login(Account, pass).Wait(); err != nil {
		return fmt.Errorf("imap login as %s: %v", Account, oneLine(err))
	}
	for {
		found, n, err := scan(c, key, nonce)
		if err != nil {
			return err
		}
		if found {
			if err := expungeAll(c, n); err != nil {
				return err
			}
			c.Logout().Wait()
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("the canary was accepted by the intake onion but never arrived in the selftest mailbox")
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// scan reports whether the hidden INBOX holds the canary, and how many
// messages it holds.
func scan(c *imapclient.Client, key *openpgp.Entity, nonce string) (bool, uint32, error) {
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		return false, 0, fmt.Errorf("imap select: %v", oneLine(err))
	}
	if sel.NumMessages == 0 {
		return false, 0, nil
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1, sel.NumMessages), &imap.FetchOptions{
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		return false, 0, fmt.Errorf("imap fetch: %v", oneLine(err))
	}
	for _, m := range msgs {
		for _, b := range m.BodySection {
			if !bytes.Contains(b.Bytes, []byte("multipart/encrypted")) {
				continue
			}
			d, err := pgpmime.Decrypt(bytes.NewReader(b.Bytes), openpgp.EntityList{key})
			if err == nil && strings.Contains(d.Text, nonce) {
				return true, sel.NumMessages, nil
			}
		}
	}
	return false, sel.NumMessages, nil
}

func expungeAll(c *imapclient.Client, n uint32) error {
	set := imap.SeqSetNum(1, n)
	if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		return fmt.Errorf("imap store: %v", oneLine(err))
	}
	if err := c.Expunge().Close(); err != nil {
		return fmt.Errorf("imap expunge: %v", oneLine(err))
	}
	return nil
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
