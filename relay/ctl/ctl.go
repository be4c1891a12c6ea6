// Package ctl is the control socket through which `relay` admin commands
// reach a running daemon. The daemon holds the database lock, so the CLI
// cannot open the store itself while it runs (as in mox's ctl.go).
//
// The socket is DATA/relay.sock, mode 0600 inside the 0700 data directory,
// and on Linux the server also checks the peer's uid (same user or root).
// The protocol is one JSON request line and one JSON response line per
// connection: small, synchronous, easy to audit. Secrets (new passphrases,
// onion keys) travel only over this local socket and are never logged.
package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"postern/relay/admin"
)

// SocketName is the control socket's file name in the data directory.
const SocketName = "relay.sock"

const (
	maxRequest = 4 << 20 // a key is at most 1 MiB, base64 in JSON
	ioTimeout  = 2 * time.Minute
	// maxSunPath is the limit of a unix socket path on Linux (108 with NUL).
	maxSunPath = 107
)

// ErrNoDaemon means no relay answers on the socket: the CLI may then open
// the store itself.
var ErrNoDaemon = errors.New("ctl: no relay is running")

// Path returns the socket path for a data directory.
func Path(dataDir string) string { return filepath.Join(dataDir, SocketName) }

// request is the wire form of one admin call.
type request struct {
	Op   string `json:"op"`
	Name string `json:"name,omitempty"`
	Key  []byte `json:"key,omitempty"`
	Days int    `json:"days,omitempty"`
	// Desk is the request of the "desk" operation.
	Desk *admin.DeskRequest `json:"desk,omitempty"`
}

type wireError struct {
	Kind string `json:"kind"`
	Msg  string `json:"msg"`
}

type response struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *wireError      `json:"error,omitempty"`
}

// kinds maps admin error kinds to wire names and back (a constant table).
var kinds = []struct {
	name string
	err  error
}{
	{"invalid", admin.ErrInvalid},
	{"key", admin.ErrKey},
	{"exists", admin.ErrExists},
	{"not_found", admin.ErrNotFound},
	{"instance", admin.ErrInstance},
	{"locked", admin.ErrLocked},
	{"busy", admin.ErrBusy},
	{"internal", admin.ErrInternal},
}

func kindName(err error) string {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "internal"
}

func kindErr(name string) error {
	for _, k := range kinds {
		if k.name == name {
			return k.err
		}
	}
	return admin.ErrInternal
}

// Listen creates the control socket of dataDir. A leftover socket file
// from a crashed daemon is removed; a socket that still answers means
// another relay serves this directory, which is an error.
func Listen(dataDir string) (net.Listener, error) {
	path := Path(dataDir)
	if len(path) > maxSunPath {
		return nil, fmt.Errorf("ctl: socket path %s is longer than %d bytes; use a shorter data directory path", path, maxSunPath)
	}
	if _, err := os.Lstat(path); err == nil {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("ctl: another relay is already serving %s", dataDir)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("ctl: remove stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("ctl: listen: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("ctl: chmod socket: %w", err)
	}
	return ln, nil
}

// ServerOptions configure Serve.
type ServerOptions struct {
	Ops    admin.Ops
	Logger *slog.Logger
}

// Serve answers admin requests on ln until ctx ends, then closes ln and
// waits for the requests in flight.
func Serve(ctx context.Context, ln net.Listener, o ServerOptions) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("ctl: accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			if err := peerAllowed(c); err != nil {
				log.Warn("ctl: connection refused", "err", err)
				return
			}
			serveConn(ctx, c, o.Ops, log)
		}()
	}
}

func serveConn(ctx context.Context, c net.Conn, ops admin.Ops, log *slog.Logger) {
	c.SetDeadline(time.Now().Add(ioTimeout))
	line, err := bufio.NewReader(io.LimitReader(c, maxRequest)).ReadBytes('\n')
	if err != nil {
		writeResponse(c, nil, &admin.Error{Kind: admin.ErrInvalid, Msg: "control socket: incomplete or oversized request"})
		return
	}
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		writeResponse(c, nil, &admin.Error{Kind: admin.ErrInvalid, Msg: "control socket: malformed request"})
		return
	}
	if req.Op == "backup" { // streams: see stream.go
		serveBackup(ctx, c, ops, log)
		return
	}
	result, err := dispatch(ctx, ops, req)
	if err != nil && kindName(err) == "internal" {
		log.Error("ctl: request failed", "op", req.Op, "err", err)
	}
	writeResponse(c, result, err)
}

func dispatch(ctx context.Context, ops admin.Ops, req request) (any, error) {
	switch req.Op {
	case "journalist.add":
		return ops.JournalistAdd(ctx, req.Name, req.Key)
	case "journalist.list":
		return ops.JournalistList(ctx)
	case "journalist.remove":
		return struct{}{}, ops.JournalistRemove(ctx, req.Name)
	case "journalist.passwd":
		return ops.JournalistPasswd(ctx, req.Name)
	case "journalist.set-key":
		return ops.JournalistSetKey(ctx, req.Name, req.Key)
	case "journalist.onion-key":
		return ops.JournalistOnionKey(ctx, req.Name)
	case "journalist.onboard":
		return ops.JournalistOnboard(ctx, req.Name)
	case "source.list":
		return ops.SourceList(ctx)
	case "source.delete":
		return ops.SourceDelete(ctx, req.Name)
	case "source.prune":
		return ops.SourcePrune(ctx, req.Days)
	case "compact":
		return ops.Compact(ctx)
	case "desk":
		if req.Desk == nil {
			return nil, &admin.Error{Kind: admin.ErrInvalid, Msg: "control socket: desk request without a desk"}
		}
		return ops.Desk(ctx, *req.Desk)
	case "status":
		st, err := ops.Status(ctx)
		st.Running = err == nil
		return st, err
	}
	return nil, &admin.Error{Kind: admin.ErrInvalid, Msg: fmt.Sprintf("control socket: unknown operation %q", req.Op)}
}

func writeResponse(w io.Writer, result any, err error) {
	var resp response
	if err != nil {
		resp.Error = &wireError{Kind: kindName(err), Msg: err.Error()}
	} else {
		b, merr := json.Marshal(result)
		if merr != nil {
			resp.Error = &wireError{Kind: "internal", Msg: "control socket: " + merr.Error()}
		} else {
			resp.Result = b
		}
	}
	b, _ := json.Marshal(resp)
	w.Write(append(b, '\n'))
}

// isNoDaemon reports whether a dial error means nobody listens.
func isNoDaemon(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT)
}
