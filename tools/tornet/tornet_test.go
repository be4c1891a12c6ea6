package tornet

import (
	"bufio"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOnionWithClientAuth builds the network, hosts a v3 onion service that requires
// client authorisation with a plain tor, and checks that the client reaches it only
// with the key.
func TestOnionWithClientAuth(t *testing.T) {
	Need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	n, err := Start(ctx, Options{Dir: dir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello over tor")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding)
	hsDir := filepath.Join(dir, "host", "hs")
	if err := os.MkdirAll(filepath.Join(hsDir, "authorized_clients"), 0o700); err != nil {
		t.Fatal(err)
	}
	auth := "descriptor:x25519:" + b32.EncodeToString(priv.PublicKey().Bytes()) + "\n"
	if err := os.WriteFile(filepath.Join(hsDir, "authorized_clients", "alice.auth"), []byte(auth), 0o600); err != nil {
		t.Fatal(err)
	}
	torrc := fmt.Sprintf("%%include %s\nSocksPort 0\nHiddenServiceDir %s\nHiddenServicePort 80 %s\n",
		n.JoinTorrc, hsDir, ln.Addr())
	if err := n.startNode("host", filepath.Join(dir, "host"), torrc); err != nil {
		t.Fatal(err)
	}
	var onion string
	if err := waitFor(ctx, time.Minute, func() bool {
		b, err := os.ReadFile(filepath.Join(hsDir, "hostname"))
		onion = strings.TrimSpace(string(b))
		return err == nil && onion != ""
	}); err != nil {
		t.Fatal("no onion hostname:", err)
	}

	// Without the key: 0xF4 as soon as the descriptor is fetched. The descriptor may
	// not be uploaded yet, so retry "not found" for a while.
	var se *SocksError
	err = retry(ctx, func() error {
		c, err := Dial(ctx, n.SocksAddr, onion+":80")
		if err == nil {
			c.Close()
			return nil
		}
		if errors.As(err, &se) && se.Code == SocksOnionAuthMissing {
			return nil
		}
		return err
	})
	if err != nil || se == nil || se.Code != SocksOnionAuthMissing {
		t.Fatalf("without a client key: want SOCKS 0xF4, got %v", err)
	}

	if err := n.AddClientAuth("alice", onion, b32.EncodeToString(priv.Bytes())); err != nil {
		t.Fatal(err)
	}
	var body string
	err = retry(ctx, func() error {
		c, err := Dial(ctx, n.SocksAddr, onion+":80")
		if err != nil {
			return err
		}
		defer c.Close()
		fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", onion)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var sb strings.Builder
		_, err = bufio.NewReader(resp.Body).WriteTo(&sb)
		body = sb.String()
		return err
	})
	if err != nil || body != "hello over tor" {
		t.Fatalf("with the client key: body %q, err %v", body, err)
	}
}

func retry(ctx context.Context, f func() error) error {
	var err error
	for range 60 {
		if err = f(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Second):
		}
	}
	return err
}
