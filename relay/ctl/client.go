package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"time"

	"postern/relay/admin"
)

// Client sends admin operations to a running relay. It implements
// admin.Ops, so the CLI does not care which side does the work.
type Client struct {
	path string
}

var _ admin.Ops = (*Client)(nil)

// Dial checks that a relay answers on dataDir's control socket. It returns
// ErrNoDaemon when there is no socket or nobody listens on it.
func Dial(ctx context.Context, dataDir string) (*Client, error) {
	path := Path(dataDir)
	if len(path) > maxSunPath {
		return nil, ErrNoDaemon // Listen refuses such paths, so no daemon can be there
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "unix", path)
	if err != nil {
		if isNoDaemon(err) {
			return nil, ErrNoDaemon
		}
		return nil, fmt.Errorf("ctl: %w", err)
	}
	c.Close()
	return &Client{path: path}, nil
}

func (c *Client) call(ctx context.Context, req request, out any) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return &admin.Error{Kind: admin.ErrInstance, Msg: fmt.Sprintf("the running relay stopped answering on %s: %v", c.path, err)}
	}
	defer conn.Close()
	deadline := time.Now().Add(ioTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	b, err := json.Marshal(req)
	if err != nil {
		return &admin.Error{Kind: admin.ErrInternal, Msg: err.Error()}
	}
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return &admin.Error{Kind: admin.ErrInternal, Msg: fmt.Sprintf("control socket: %v", err)}
	}
	line, err := bufio.NewReader(io.LimitReader(conn, maxRequest)).ReadBytes('\n')
	if err != nil {
		return &admin.Error{Kind: admin.ErrInternal, Msg: fmt.Sprintf("control socket: no answer from the relay: %v", err)}
	}
	var resp response
	if err := json.Unmarshal(line, &resp); err != nil {
		return &admin.Error{Kind: admin.ErrInternal, Msg: "control socket: malformed answer"}
	}
	if resp.Error != nil {
		return &admin.Error{Kind: kindErr(resp.Error.Kind), Msg: resp.Error.Msg}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(resp.Result, out); err != nil {
		return &admin.Error{Kind: admin.ErrInternal, Msg: "control socket: malformed result"}
	}
	return nil
}

// JournalistAdd implements admin.Ops.
func (c *Client) JournalistAdd(ctx context.Context, name string, key []byte) (r admin.JournalistAdded, err error) {
	err = c.call(ctx, request{Op: "journalist.add", Name: name, Key: key}, &r)
	return r, err
}

// JournalistList implements admin.Ops.
func (c *Client) JournalistList(ctx context.Context) (r []admin.JournalistInfo, err error) {
	err = c.call(ctx, request{Op: "journalist.list"}, &r)
	return r, err
}

// JournalistRemove implements admin.Ops.
func (c *Client) JournalistRemove(ctx context.Context, name string) error {
	return c.call(ctx, request{Op: "journalist.remove", Name: name}, nil)
}

// JournalistPasswd implements admin.Ops.
func (c *Client) JournalistPasswd(ctx context.Context, name string) (r admin.NewPassphrase, err error) {
	err = c.call(ctx, request{Op: "journalist.passwd", Name: name}, &r)
	return r, err
}

// JournalistSetKey implements admin.Ops.
func (c *Client) JournalistSetKey(ctx context.Context, name string, key []byte) (r admin.JournalistInfo, err error) {
	err = c.call(ctx, request{Op: "journalist.set-key", Name: name, Key: key}, &r)
	return r, err
}

// JournalistOnionKey implements admin.Ops.
func (c *Client) JournalistOnionKey(ctx context.Context, name string) (r admin.OnionKey, err error) {
	err = c.call(ctx, request{Op: "journalist.onion-key", Name: name}, &r)
	return r, err
}

// JournalistOnboard implements admin.Ops.
func (c *Client) JournalistOnboard(ctx context.Context, name string) (r admin.Onboarding, err error) {
	err = c.call(ctx, request{Op: "journalist.onboard", Name: name}, &r)
	return r, err
}

// Status implements admin.Ops.
func (c *Client) Status(ctx context.Context) (r admin.Status, err error) {
	err = c.call(ctx, request{Op: "status"}, &r)
	return r, err
}

// SourceList implements admin.Ops.
func (c *Client) SourceList(ctx context.Context) (r []admin.SourceInfo, err error) {
	err = c.call(ctx, request{Op: "source.list"}, &r)
	return r, err
}

// SourceDelete implements admin.Ops.
func (c *Client) SourceDelete(ctx context.Context, designation string) (r admin.SourceDeleted, err error) {
	err = c.call(ctx, request{Op: "source.delete", Name: designation}, &r)
	return r, err
}

// SourcePrune implements admin.Ops.
func (c *Client) SourcePrune(ctx context.Context, inactiveDays int) (r admin.Pruned, err error) {
	err = c.call(ctx, request{Op: "source.prune", Days: inactiveDays}, &r)
	return r, err
}

// Desk implements admin.Ops.
func (c *Client) Desk(ctx context.Context, req admin.DeskRequest) (r admin.DeskResult, err error) {
	err = c.call(ctx, request{Op: "desk", Desk: &req}, &r)
	return r, err
}

// Compact implements admin.Ops.
func (c *Client) Compact(ctx context.Context) (r admin.Compacted, err error) {
	err = c.call(ctx, request{Op: "compact"}, &r)
	return r, err
}
