package tor

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
	"testing"
	"time"

	"postern/tools/tornet"
)

func TestMissingTor(t *testing.T) {
	_, err := Start(context.Background(), Options{DataDir: t.TempDir(), ExePath: "/nonexistent/tor"})
	if !errors.Is(err, ErrNoTor) {
		t.Fatalf("want ErrNoTor, got %v", err)
	}
}

// TestOnionServices publishes both services on the private network, checks client
// authorisation, then restarts tor and checks both addresses are kept.
func TestOnionServices(t *testing.T) {
	tornet.Need(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	net_, err := tornet.Start(ctx, tornet.Options{Dir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(net_.Stop)

	web := serveText(t, "intake page")
	mbox := serveText(t, "journalist page")
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding)
	pub := b32.EncodeToString(priv.PublicKey().Bytes())
	data := t.TempDir()

	publish := func() (string, string, *Tor) {
		tr, err := Start(ctx, Options{DataDir: data, Extra: []string{"%include " + net_.JoinTorrc}})
		if err != nil {
			t.Fatal(err)
		}
		in, err := tr.Publish(ctx, Publish{Name: Intake, Ports: map[int]string{80: web}, PoW: true, MaxStreams: 20})
		if err != nil {
			t.Fatal(err)
		}
		jo, err := tr.Publish(ctx, Publish{Name: Journalist, Ports: map[int]string{143: mbox}, RequireAuth: true, ClientAuth: []string{pub}})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range []string{in, jo} {
			wctx, c := context.WithTimeout(ctx, time.Minute)
			if err := tr.WaitPublished(wctx, o); err != nil {
				t.Fatal(err)
			}
			c()
		}
		return in, jo, tr
	}
	in, jo, tr := publish()
	if got := get(ctx, t, net_.SocksAddr, in+":80"); got != "intake page" {
		t.Fatalf("intake onion: %q", got)
	}
	var se *tornet.SocksError
	if err := dialErr(ctx, net_.SocksAddr, jo+":143"); !errors.As(err, &se) || se.Code != tornet.SocksOnionAuthMissing {
		t.Fatalf("journalist onion without a key: want 0xF4, got %v", err)
	}
	if err := net_.AddClientAuth("j", jo, b32.EncodeToString(priv.Bytes())); err != nil {
		t.Fatal(err)
	}
	if got := get(ctx, t, net_.SocksAddr, jo+":143"); got != "journalist page" {
		t.Fatalf("journalist onion with key: %q", got)
	}
	if fi, err := os.Stat(data + "/onion/intake.key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("intake key file: %v %v", fi, err)
	}
	// The addresses follow from the keys on disk alone (relay status
	// shows them while the relay is stopped).
	for name, want := range map[string]string{Intake: in, Journalist: jo} {
		if got, err := KeyAddress(data, name); err != nil || got != want {
			t.Fatalf("KeyAddress(%s) = %q, %v; tor published %s", name, got, err, want)
		}
	}
	tr.Close()
	<-tr.Exited()

	in2, jo2, tr2 := publish()
	defer tr2.Close()
	if in2 != in || jo2 != jo {
		t.Fatalf("addresses changed across restart: %s %s -> %s %s", in, jo, in2, jo2)
	}
	if p, _ := tr2.Bootstrap(); p != 100 {
		t.Fatalf("bootstrap %d", p)
	}
	// Cutting the only client publishes nothing; the onion no longer answers.
	if o, err := tr2.Publish(ctx, Publish{Name: Journalist, Ports: map[int]string{143: mbox}, RequireAuth: true}); err != nil || o != "" {
		t.Fatalf("publish with no clients: %q %v", o, err)
	}
}

func serveText(t *testing.T, body string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func dialErr(ctx context.Context, socks, addr string) error {
	var err error
	for range 60 {
		var c net.Conn
		c, err = tornet.Dial(ctx, socks, addr)
		if err == nil {
			c.Close()
			return nil
		}
		var se *tornet.SocksError
		if errors.As(err, &se) && se.Code != tornet.SocksOnionNotFound {
			return err
		}
		time.Sleep(time.Second)
	}
	return err
}

func get(ctx context.Context, t *testing.T, socks, addr string) string {
	t.Helper()
	var last error
	for range 60 {
		c, err := tornet.Dial(ctx, socks, addr)
		if err != nil {
			last = err
			time.Sleep(time.Second)
			continue
		}
		fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			c.Close()
			last = err
			continue
		}
		b := make([]byte, 100)
		n, _ := resp.Body.Read(b)
		c.Close()
		return string(b[:n])
	}
	t.Fatalf("no answer from %s: %v", addr, last)
	return ""
}
