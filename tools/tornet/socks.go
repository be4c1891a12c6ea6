package tornet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// SocksError is a SOCKS5 failure reply. With ExtendedErrors, tor answers 0xF4 when an
// onion service needs client authorisation the client lacks, 0xF5 when the key it has
// is wrong, and 0xF0 when the descriptor cannot be found.
type SocksError struct{ Code byte }

func (e *SocksError) Error() string { return fmt.Sprintf("socks: reply 0x%02X", e.Code) }

// Codes from tor's ExtendedErrors (see tor's SocksPort documentation).
const (
	SocksOnionNotFound    byte = 0xF0
	SocksOnionAuthMissing byte = 0xF4
	SocksOnionAuthBad     byte = 0xF5
)

// Dial connects to addr (host:port, host may be an onion) through a SOCKS5 proxy,
// resolving the name remotely, and reports failure replies as *SocksError. It exists
// so tests can tell "client authorisation missing" from other failures, which
// x/net/proxy folds into one message.
func Dial(ctx context.Context, socks, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 || len(host) > 255 {
		return nil, errors.New("socks: bad address")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", socks)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	fail := func(err error) (net.Conn, error) { c.Close(); return nil, err }
	if _, err := c.Write([]byte{5, 1, 0}); err != nil {
		return fail(err)
	}
	var b [4]byte
	if _, err := io.ReadFull(c, b[:2]); err != nil {
		return fail(err)
	}
	if b[0] != 5 || b[1] != 0 {
		return fail(errors.New("socks: no acceptable method"))
	}
	req := []byte{5, 1, 0, 3, byte(len(host))}
	req = append(req, host...)
	req = append(req, byte(port>>8), byte(port))
	if _, err := c.Write(req); err != nil {
		return fail(err)
	}
	if _, err := io.ReadFull(c, b[:4]); err != nil {
		return fail(err)
	}
	if b[1] != 0 {
		return fail(&SocksError{Code: b[1]})
	}
	var skip int
	switch b[3] {
	case 1:
		skip = 4
	case 4:
		skip = 16
	case 3:
		if _, err := io.ReadFull(c, b[:1]); err != nil {
			return fail(err)
		}
		skip = int(b[0])
	default:
		return fail(errors.New("socks: bad reply"))
	}
	if _, err := io.ReadFull(c, make([]byte, skip+2)); err != nil {
		return fail(err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
