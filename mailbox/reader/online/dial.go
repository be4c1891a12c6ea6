package online

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DialFunc opens one connection to a relay service.
type DialFunc func(ctx context.Context) (net.Conn, error)

// dialTimeout bounds connecting, Tor circuits to an onion included (tor
// itself gives up on an onion after about two minutes).
const dialTimeout = 3 * time.Minute

// Direct dials addr (host:port) without a proxy: the loopback demo, tests.
func Direct(addr string) DialFunc {
	return func(ctx context.Context) (net.Conn, error) {
		d := net.Dialer{Timeout: dialTimeout}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("cannot connect to %s: %w", addr, unwrapOp(err))
		}
		return c, nil
	}
}

// ParseProxy accepts socks5://HOST:PORT, socks5h://HOST:PORT or HOST:PORT
// and returns HOST:PORT.
func ParseProxy(s string) (string, error) {
	hostport := s
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "socks5" && u.Scheme != "socks5h") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return "", fmt.Errorf("--proxy wants socks5://HOST:PORT (Tor's SOCKS port), not %q", s)
		}
		hostport = u.Host
	}
	if _, port, err := net.SplitHostPort(hostport); err != nil || port == "" {
		return "", fmt.Errorf("--proxy wants socks5://HOST:PORT (Tor's SOCKS port), not %q", s)
	}
	return hostport, nil
}

// ViaSOCKS dials target (an onion's host:port) through the SOCKS5 proxy at
// proxy, Tor's SOCKS port. The name goes to Tor as it is (remote
// resolution: nothing is looked up locally, nothing leaks to a DNS
// server). Each DialFunc made here sends its own random user name and
// password, which Tor's default IsolateSOCKSAuth turns into circuits of
// their own, apart from any other program using the same tor.
func ViaSOCKS(proxy, target string) (DialFunc, error) {
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		return nil, fmt.Errorf("bad address %q: %w", target, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 || host == "" || len(host) > 255 {
		return nil, fmt.Errorf("bad address %q", target)
	}
	tag := make([]byte, 8)
	if _, err := io.ReadFull(rand.Reader, tag); err != nil {
		return nil, err
	}
	user, pass := "postern-reader", hex.EncodeToString(tag)
	return func(ctx context.Context) (net.Conn, error) {
		d := net.Dialer{Timeout: 30 * time.Second}
		c, err := d.DialContext(ctx, "tcp", proxy)
		if err != nil {
			return nil, fmt.Errorf("cannot reach Tor's SOCKS port %s (is tor running?): %w", proxy, unwrapOp(err))
		}
		dl := time.Now().Add(dialTimeout)
		if d, ok := ctx.Deadline(); ok && d.Before(dl) {
			dl = d
		}
		c.SetDeadline(dl)
		stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
		defer stop()
		if err := socksConnect(c, user, pass, host, port); err != nil {
			c.Close()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("through Tor to %s: %w", target, err)
		}
		c.SetDeadline(time.Time{})
		return c, nil
	}, nil
}

// socksConnect speaks SOCKS5 (RFC 1928) with user name and password
// (RFC 1929) and asks for host:port by name.
func socksConnect(c net.Conn, user, pass, host string, port int) error {
	if _, err := c.Write([]byte{5, 2, 0, 2}); err != nil {
		return err
	}
	var b [4]byte
	if _, err := io.ReadFull(c, b[:2]); err != nil {
		return fmt.Errorf("no SOCKS5 answer (is that Tor's SOCKS port?): %w", err)
	}
	if b[0] != 5 {
		return errors.New("not a SOCKS5 proxy (is that Tor's SOCKS port?)")
	}
	switch b[1] {
	case 0:
	case 2:
		req := append([]byte{1, byte(len(user))}, user...)
		req = append(append(req, byte(len(pass))), pass...)
		if _, err := c.Write(req); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, b[:2]); err != nil {
			return err
		}
		if b[1] != 0 {
			return errors.New("the SOCKS proxy refused its login")
		}
	default:
		return errors.New("the SOCKS proxy wants an authentication this reader does not speak")
	}
	req := append([]byte{5, 1, 0, 3, byte(len(host))}, host...)
	req = append(req, byte(port>>8), byte(port))
	if _, err := c.Write(req); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, b[:4]); err != nil {
		return err
	}
	if b[1] != 0 {
		return socksError(b[1])
	}
	var skip int
	switch b[3] {
	case 1:
		skip = 4
	case 4:
		skip = 16
	case 3:
		if _, err := io.ReadFull(c, b[:1]); err != nil {
			return err
		}
		skip = int(b[0])
	default:
		return errors.New("bad SOCKS5 reply")
	}
	_, err := io.ReadFull(c, make([]byte, skip+2))
	return err
}

// socksError names a SOCKS5 failure, Tor's extended onion codes included
// (sent when the SocksPort has ExtendedErrors).
func socksError(code byte) error {
	msg := map[byte]string{
		1: "general failure", 2: "not allowed by the proxy's rules", 3: "network unreachable",
		4: "host unreachable (is the address right, and is the relay up?)", 5: "connection refused",
		6: "timed out", 7: "command not supported", 8: "address type not supported",
		0xF0: "onion service not found (wrong address, or the relay is not running)",
		0xF1: "onion service descriptor is invalid",
		0xF2: "onion service introduction failed",
		0xF3: "onion service rendezvous failed",
		0xF4: "the journalist onion needs your client-authorisation key: give it to tor (see reader.json's client_auth_file)",
		0xF5: "tor's client-authorisation key for the journalist onion is wrong (ask your admin for a new onboarding folder)",
		0xF6: "bad onion address",
		0xF7: "onion service introduction timed out",
	}[code]
	if msg == "" {
		msg = fmt.Sprintf("SOCKS reply 0x%02X", code)
	}
	return errors.New(msg)
}

// unwrapOp drops net.OpError's repetition of the addresses.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
