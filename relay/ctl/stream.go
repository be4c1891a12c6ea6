package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"postern/relay/admin"
	"postern/relay/backup"
)

// The backup operation breaks the one-line-each-way rule on purpose: after the
// request line the daemon answers one JSON line (the backup.Plan, or an error)
// and then streams the raw archive until it closes the connection. The archive
// ends with its own manifest, so a stream cut short (the daemon failed or
// stopped half-way) is recognised by the client, which verifies it as it
// passes through. Deadlines apply to each read and write, not to the whole
// transfer, so a large instance can take as long as it needs.

// serveBackup answers a "backup" request on c.
func serveBackup(ctx context.Context, c net.Conn, ops admin.Ops, log *slog.Logger) {
	c.SetDeadline(time.Time{})
	w := &deadlineConn{c: c}
	started := false
	err := ops.Backup(ctx, w, func(p backup.Plan) {
		started = true
		writeResponse(w, p, nil)
	})
	if err != nil {
		if !started {
			writeResponse(w, nil, err)
			return
		}
		log.Error("ctl: backup stream failed", "err", err)
	}
}

// deadlineConn renews the deadline on every read or write.
type deadlineConn struct{ c net.Conn }

func (d *deadlineConn) Write(p []byte) (int, error) {
	d.c.SetWriteDeadline(time.Now().Add(ioTimeout))
	return d.c.Write(p)
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	d.c.SetReadDeadline(time.Now().Add(ioTimeout))
	return d.c.Read(p)
}

// Backup implements admin.Ops: it copies the running relay's archive stream
// to w. plan is called once the daemon has taken its snapshot.
func (c *Client) Backup(ctx context.Context, w io.Writer, plan func(backup.Plan)) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return &admin.Error{Kind: admin.ErrInstance, Msg: fmt.Sprintf("the running relay stopped answering on %s: %v", c.path, err)}
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	dc := &deadlineConn{c: conn}
	b, _ := json.Marshal(request{Op: "backup"})
	if _, err := dc.Write(append(b, '\n')); err != nil {
		return &admin.Error{Kind: admin.ErrInternal, Msg: fmt.Sprintf("control socket: %v", err)}
	}
	br := bufio.NewReader(dc)
	line, err := readLine(br, maxRequest)
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
	var p backup.Plan
	if err := json.Unmarshal(resp.Result, &p); err != nil {
		return &admin.Error{Kind: admin.ErrInternal, Msg: "control socket: malformed backup plan"}
	}
	if plan != nil {
		plan(p)
	}
	if _, err := io.Copy(w, br); err != nil {
		if ctx.Err() != nil {
			return &admin.Error{Kind: admin.ErrInternal, Msg: "backup cancelled"}
		}
		return &admin.Error{Kind: admin.ErrInternal, Msg: fmt.Sprintf("backup stream from the relay broke off: %v", err)}
	}
	return nil
}

// readLine reads one line of at most max bytes.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > max {
			return nil, fmt.Errorf("answer too long")
		}
		if err == nil {
			return line, nil
		}
		if err != bufio.ErrBufferFull {
			return nil, err
		}
	}
}
