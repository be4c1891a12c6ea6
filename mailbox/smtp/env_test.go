package smtpd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"postern/mailbox/authn"
	"postern/mailbox/kdf"
	"postern/mailbox/pgp"
	"postern/mailbox/pgpmime"
	"postern/mailbox/store"
	"postern/mailbox/tally"
)

const (
	domain   = "postern.test"
	org      = "The Daily Test"
	password = "correct horse battery staple"
)

var testParams = kdf.Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}

// env is a store with three journalists and one source, and the SMTP
// server on a loopback port.
type env struct {
	t       testing.TB
	st      *store.Store
	srv     *Server
	addr    string
	keys    map[string]*openpgp.Entity // journalists' keys, private halves included
	src     store.Source
	srcKey  *openpgp.Entity // the source's derived key, private half included
	srcSeed []byte
	tally   *tally.Tally // what the server counts instead of logging
	conns   *trackListener
}

// trackListener counts the connections the server holds open. The server
// closes a connection last, after the session's end, so none open means it
// has finished with every session.
type trackListener struct {
	net.Listener
	mu     sync.Mutex
	open   int
	change chan struct{} // closed and replaced when open changes
}

func (l *trackListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.add(1)
	return &trackedConn{Conn: c, l: l}, nil
}

func (l *trackListener) add(n int) {
	l.mu.Lock()
	l.open += n
	close(l.change)
	l.change = make(chan struct{})
	l.mu.Unlock()
}

type trackedConn struct {
	net.Conn
	l    *trackListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.add(-1) })
	return err
}

// settle waits until the server has finished with every connection: what it
// counts is then all it will count for them. Close the clients first.
func (e *env) settle() {
	e.t.Helper()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	for {
		e.conns.mu.Lock()
		open, change := e.conns.open, e.conns.change
		e.conns.mu.Unlock()
		if open == 0 {
			return
		}
		select {
		case <-change:
		case <-deadline.C:
			e.t.Fatalf("the server still holds %d connections after a minute", open)
		}
	}
}

// counted is everything the server counted, kinds and last errors, as
// text: what an admin would see of it in `relay status` and the daily log.
func (e *env) counted() string {
	var b strings.Builder
	for _, c := range e.tally.Total() {
		fmt.Fprintf(&b, "%s (%d): %s\n", c.Kind, c.Count, c.LastError)
	}
	return b.String()
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func newEnv(t testing.TB, mod ...func(*Options)) *env {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	st, err := store.Init(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	pool := kdf.NewPool(kdf.PoolOptions{Workers: 1})
	hash, err := pool.HashPassword(context.Background(), password, testParams)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, keys: map[string]*openpgp.Entity{}, tally: tally.New()}
	for _, name := range []string{"alice", "bob", "jane"} {
		k, err := pgp.DeriveKey(randomBytes(t, 32), name+" <"+name+"@home.example>")
		if err != nil {
			t.Fatal(err)
		}
		e.keys[name] = k
		_, info, err := pgp.ParsePublicKey(pgp.Serialize(k))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AddJournalist(store.Journalist{Name: name, PasswordHash: hash,
			PublicKey: pgp.Serialize(k), Fingerprint: info.Fingerprint}); err != nil {
			t.Fatal(err)
		}
	}
	e.src, e.srcKey, e.srcSeed = e.addSource("quixotic tangerine")

	auth := &authn.Authenticator{Store: st, Pool: pool, DummyParams: testParams,
		Throttle: authn.NewThrottle(authn.ThrottleOptions{})}
	o := Options{Store: st, Auth: auth, Domain: domain, OrgName: org,
		Tally: e.tally}
	for _, m := range mod {
		m(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.conns = &trackListener{Listener: ln, change: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(e.conns) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if n := srv.panics.Load(); n > 0 {
			t.Errorf("%d panics recovered during the test", n)
		}
	})
	e.srv, e.addr = srv, ln.Addr().String()
	return e
}

// addSource creates a source the way intake does: a derived key from a seed.
func (e *env) addSource(designation string) (store.Source, *openpgp.Entity, []byte) {
	e.t.Helper()
	seed := randomBytes(e.t, 32)
	src := store.Source{
		ID:          randomBytes(e.t, 32),
		Designation: designation,
		Address:     strings.ReplaceAll(designation, " ", ".") + "@" + domain,
		ThreadID:    "<" + hex.EncodeToString(randomBytes(e.t, 16)) + "@" + domain + ">",
	}
	key, err := pgp.DeriveKey(seed, designation+" <"+src.Address+">")
	if err != nil {
		e.t.Fatal(err)
	}
	_, info, err := pgp.ParsePublicKey(pgp.Serialize(key))
	if err != nil {
		e.t.Fatal(err)
	}
	src.PublicKey, src.Fingerprint = pgp.Serialize(key), info.Fingerprint
	if err := e.st.CreateSource(src); err != nil {
		e.t.Fatal(err)
	}
	return src, key, seed
}

// dial returns a go-smtp client, logged in as name unless name is "".
func (e *env) dial(name string) *smtp.Client {
	e.t.Helper()
	c, err := smtp.Dial(e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	if err := c.Hello("laptop.example"); err != nil {
		e.t.Fatal(err)
	}
	if name != "" {
		if err := c.Auth(sasl.NewPlainClient("", name, password)); err != nil {
			e.t.Fatalf("auth: %v", err)
		}
	}
	return c
}

// send sends msg from name to rcpt on a connection of its own, ends it,
// and returns the server's error.
func (e *env) send(name, rcpt string, msg []byte) error {
	e.t.Helper()
	c := e.dial(name)
	defer c.Close()
	if err := c.SendMail("jane@home.example", []string{rcpt}, bytes.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}

// replies decrypts every stored reply of the source with its re-derived key.
func (e *env) replies() []*pgpmime.Decrypted {
	e.t.Helper()
	key, err := pgp.DeriveKey(e.srcSeed, e.src.Designation+" <"+e.src.Address+">")
	if err != nil {
		e.t.Fatal(err)
	}
	reps, err := e.st.Replies(e.src.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []*pgpmime.Decrypted
	for _, r := range reps {
		raw := e.blob(r.Blob.ID)
		// Every stored reply, encrypted here or by the journalist's client,
		// is padded to a Padmé length.
		if size := int64(len(raw)); pgp.Padme(size) != size {
			e.t.Errorf("a stored reply of %d bytes: not a Padmé length", size)
		}
		d, err := pgpmime.Decrypt(bytes.NewReader(raw), openpgp.EntityList{key})
		if err != nil {
			e.t.Fatalf("source cannot decrypt reply: %v\n%s", err, raw)
		}
		out = append(out, d)
	}
	return out
}

func (e *env) blob(id string) []byte {
	e.t.Helper()
	f, err := e.st.OpenBlob(id)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// inbox returns the raw messages in a journalist's INBOX.
func (e *env) inbox(name string) [][]byte {
	e.t.Helper()
	msgs, err := e.st.Messages(name, "INBOX")
	if err != nil {
		e.t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		out = append(out, e.blob(m.Blob.ID))
	}
	return out
}

// decryptAs decrypts a team copy with a journalist's key.
func (e *env) decryptAs(name string, raw []byte) *pgpmime.Decrypted {
	e.t.Helper()
	d, err := pgpmime.Decrypt(bytes.NewReader(raw), openpgp.EntityList{e.keys[name]})
	if err != nil {
		e.t.Fatalf("%s cannot decrypt the copy: %v", name, err)
	}
	return d
}

// grepDataDir fails if any file under the store's directory holds marker.
func (e *env) grepDataDir(markers ...string) {
	e.t.Helper()
	err := filepath.WalkDir(e.st.Dir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, m := range markers {
			if bytes.Contains(b, []byte(m)) {
				e.t.Errorf("marker %q found in %s", m, path)
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// crlf turns a readable test message with LF into the wire form.
func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n"))
}
