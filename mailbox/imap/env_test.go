package imapd

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-imap/v2/imapclient"

	"postern/mailbox/authn"
	"postern/mailbox/imap/structure"
	"postern/mailbox/kdf"
	"postern/mailbox/pgp"
	"postern/mailbox/store"
)

// testParams keeps argon2id cheap in tests.
var testParams = kdf.Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}

// env is a store, an argon2 pool, journalists and a running server.
type env struct {
	t        testing.TB
	logTo    io.Writer // server log; default: the test log
	dir      string
	st       *store.Store
	pool     *kdf.Pool
	throttle *authn.Throttle
	srv      *Server
	addr     string
	serveErr chan error
	pass     map[string]string
	keys     map[string]*openpgp.Entity // journalists' keys, private half included
	opts     Options
}

func newEnv(t testing.TB, names ...string) *env {
	t.Helper()
	return newEnvWith(t, Options{}, names...)
}

// newEnvWith is newEnv with server options (Store, Auth and Logger are set
// by the env).
func newEnvWith(t testing.TB, o Options, names ...string) *env {
	t.Helper()
	e := &env{
		opts:     o,
		t:        t,
		dir:      filepath.Join(t.TempDir(), "data"),
		pool:     kdf.NewPool(kdf.PoolOptions{Workers: 2}),
		throttle: authn.NewThrottle(authn.ThrottleOptions{}),
		pass:     map[string]string{},
		keys:     map[string]*openpgp.Entity{},
	}
	st, err := store.Init(e.dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.st = st
	for _, n := range names {
		e.addJournalist(n)
	}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *env) addJournalist(name string) {
	e.t.Helper()
	pass := "correct horse " + name
	h, err := e.pool.HashPassword(context.Background(), pass, testParams)
	if err != nil {
		e.t.Fatal(err)
	}
	key, err := testJournalistKey(name)
	if err != nil {
		e.t.Fatal(err)
	}
	e.keys[name] = key
	if err := e.st.AddJournalist(store.Journalist{Name: name, PasswordHash: h, PublicKey: pgp.Serialize(key)}); err != nil {
		e.t.Fatal(err)
	}
	e.pass[name] = pass
}

func (e *env) start() {
	e.t.Helper()
	if e.st == nil {
		st, err := store.Open(e.dir, store.Options{})
		if err != nil {
			e.t.Fatal(err)
		}
		e.st = st
	}
	o := e.opts
	o.Store = e.st
	o.Auth = &authn.Authenticator{Store: e.st, Pool: e.pool, Throttle: e.throttle, DummyParams: testParams}
	var w io.Writer = testWriter{e.t}
	if e.logTo != nil {
		w = e.logTo
	}
	o.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv, e.addr = srv, ln.Addr().String()
	e.serveErr = make(chan error, 1)
	go func() { e.serveErr <- srv.Serve(ln) }()
}

// stop closes the server and the store (a restart is stop then start).
func (e *env) stop() {
	if e.srv != nil {
		if err := e.srv.Close(); err != nil {
			e.t.Error(err)
		}
		if err := <-e.serveErr; err != nil {
			e.t.Errorf("Serve: %v", err)
		}
		e.srv = nil
	}
	if e.st != nil {
		if err := e.st.Check(); err != nil {
			e.t.Errorf("store check: %v", err)
		}
		if err := e.st.Close(); err != nil {
			e.t.Error(err)
		}
		e.st = nil
	}
}

// testWriter sends server logs to the test log, and fails the test on a
// recovered panic (the library recovers them and logs "panic").
type testWriter struct{ t testing.TB }

var panicMu sync.Mutex

func (w testWriter) Write(p []byte) (int, error) {
	s := string(p)
	if strings.Contains(s, "panic") {
		panicMu.Lock()
		w.t.Errorf("server panicked: %s", s)
		panicMu.Unlock()
	}
	w.t.Log(strings.TrimSpace(s))
	return len(p), nil
}

func (e *env) dial(t *testing.T, o *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(e.addr, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (e *env) login(t *testing.T, name string, o *imapclient.Options) *imapclient.Client {
	t.Helper()
	c := e.dial(t, o)
	if err := c.Login(name, e.pass[name]).Wait(); err != nil {
		t.Fatalf("login %s: %v", name, err)
	}
	return c
}

// deliver stores msg as a submission for the journalists (nil: all), the
// way intake does: blob, structure meta, one Deliver.
func (e *env) deliver(t testing.TB, msg string, journalists ...string) store.BlobRef {
	t.Helper()
	bw, err := e.st.NewBlob()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bw.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	ref, err := bw.Commit()
	if err != nil {
		t.Fatal(err)
	}
	s, err := structure.Compute(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	meta, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.Deliver(store.Delivery{Blob: ref, Journalists: journalists, Meta: meta}); err != nil {
		t.Fatal(err)
	}
	return ref
}

// needTool skips without the tool, but fails under CI.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (required under CI)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}
