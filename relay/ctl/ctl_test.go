package ctl

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"postern/relay/admin"
	"postern/relay/config"
	"postern/relay/demokey"
)

func startServer(t *testing.T) (string, *admin.Admin) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "d")
	cfg := config.Default()
	cfg.SourceKDF = config.KDFParams{Time: 1, MemoryKiB: 8192, Threads: 1}
	cfg.PasswordKDF = cfg.SourceKDF
	a, err := admin.Init(dir, cfg, admin.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, ServerOptions{Ops: a}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		a.Close()
	})
	return dir, a
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir, _ := startServer(t)
	fi, err := os.Stat(Path(dir))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket %v %v", fi.Mode(), err)
	}
	c, err := Dial(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	k, err := demokey.New("Jane", "jane@example.org")
	if err != nil {
		t.Fatal(err)
	}
	added, err := c.JournalistAdd(ctx, "jane", k.Public)
	if err != nil {
		t.Fatal(err)
	}
	if added.Journalist.Fingerprint != k.Fingerprint || len(strings.Fields(added.Passphrase)) != 7 || added.OnionAuthPrivate == "" {
		t.Fatalf("added %+v", added)
	}
	_, err = c.JournalistAdd(ctx, "jane", k.Public)
	if !errors.Is(err, admin.ErrExists) || err.Error() != `journalist "jane" already exists` {
		t.Fatalf("duplicate over socket: %v", err)
	}
	if _, err := c.JournalistAdd(ctx, "bob", []byte("garbage")); !errors.Is(err, admin.ErrKey) {
		t.Fatalf("garbage key: %v", err)
	}
	list, err := c.JournalistList(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "jane" {
		t.Fatalf("list %v %v", list, err)
	}
	pw, err := c.JournalistPasswd(ctx, "jane")
	if err != nil || pw.Passphrase == added.Passphrase {
		t.Fatalf("passwd %v %v", pw, err)
	}
	k2, _ := demokey.New("Jane", "jane@example.org")
	info, err := c.JournalistSetKey(ctx, "jane", k2.Public)
	if err != nil || info.Fingerprint != k2.Fingerprint {
		t.Fatalf("set-key %v %v", info, err)
	}
	st, err := c.Status(ctx)
	if err != nil || !st.Running || st.Journalists != 1 {
		t.Fatalf("status %+v %v", st, err)
	}
	if err := c.JournalistRemove(ctx, "jane"); err != nil {
		t.Fatal(err)
	}
	if err := c.JournalistRemove(ctx, "jane"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
}

func TestListenRefusesLiveAndReplacesStale(t *testing.T) {
	dir, _ := startServer(t)
	if _, err := Listen(dir); err == nil || !strings.Contains(err.Error(), "already serving") {
		t.Fatalf("second Listen: %v", err)
	}
	// A stale socket file (no listener) is replaced.
	dir2 := t.TempDir()
	ln, err := net.Listen("unix", Path(dir2))
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := Dial(context.Background(), dir2); !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("Dial on stale socket: %v", err)
	}
	ln2, err := Listen(dir2)
	if err != nil {
		t.Fatalf("Listen over stale socket: %v", err)
	}
	ln2.Close()
}

func TestDialNoDaemon(t *testing.T) {
	if _, err := Dial(context.Background(), t.TempDir()); !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("err = %v", err)
	}
}

func TestBadRequests(t *testing.T) {
	dir, _ := startServer(t)
	for _, in := range []string{"{nope\n", `{"op":"drop-tables"}` + "\n", "no newline"} {
		c, err := net.Dial("unix", Path(dir))
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(in))
		c.(*net.UnixConn).CloseWrite()
		var b bytes.Buffer
		b.ReadFrom(c)
		c.Close()
		if !strings.Contains(b.String(), `"kind":"invalid"`) {
			t.Errorf("%q → %q", in, b.String())
		}
	}
}

// fakeOps answers every operation with an error, for the fuzz target.
type fakeOps struct{ admin.Ops }

func (fakeOps) Status(context.Context) (admin.Status, error) { return admin.Status{}, nil }

// FuzzServeConn: any request bytes produce one response line, never a panic.
func FuzzServeConn(f *testing.F) {
	f.Add([]byte(`{"op":"status"}` + "\n"))
	f.Add([]byte(`{"op":"journalist.add","name":"x","key":"AAAA"}` + "\n"))
	f.Add([]byte("\xff\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if bytes.Contains(in, []byte(`"journalist`)) {
			return // fakeOps implements only Status
		}
		a, b := net.Pipe()
		go func() {
			b.Write(in)
			if !bytes.Contains(in, []byte("\n")) {
				b.Close()
			}
		}()
		out := make(chan []byte, 1)
		go func() {
			var buf bytes.Buffer
			buf.ReadFrom(b)
			out <- buf.Bytes()
		}()
		serveConn(context.Background(), a, fakeOps{}, slog.New(slog.DiscardHandler))
		a.Close()
		if got := <-out; len(got) > 0 && !bytes.HasSuffix(got, []byte("\n")) {
			t.Fatalf("response not a line: %q", got)
		}
	})
}
