package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/intake/codename"
	"postern/mailbox/delivery"
	"postern/mailbox/kdf"
	"postern/mailbox/pgp"
	"postern/mailbox/store"
)

const testDomain = "newsroom.example"

// testClock is a settable clock for Options.Now.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is an instance with journalists (and their private keys), sources
// made the way the intake form makes them, and helpers to submit and reply.
type fixture struct {
	a     *Admin
	dir   string
	clock *testClock
	pass  map[string]string
	jkeys map[string]*openpgp.Entity
}

// testSource is a source with what only the source knows.
type testSource struct {
	codename string
	rec      store.Source
	key      *openpgp.Entity // reply key, private half included
}

func derived(t testing.TB, label, uid string) *openpgp.Entity {
	t.Helper()
	seed := sha256.Sum256([]byte(label))
	e, err := pgp.DeriveKey(seed[:], uid)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newFixture(t *testing.T, journalists ...string) *fixture {
	t.Helper()
	f := &fixture{
		dir:   filepath.Join(t.TempDir(), "inst"),
		clock: &testClock{t: time.Date(2026, 3, 3, 15, 4, 5, 0, time.UTC)},
		pass:  map[string]string{},
		jkeys: map[string]*openpgp.Entity{},
	}
	cfg := testConfig()
	cfg.MailDomain = testDomain
	a, err := Init(f.dir, cfg, InitOptions{Options: Options{Now: f.clock.Now}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	f.a = a
	for _, n := range journalists {
		k := derived(t, "journalist "+n, n+" <"+n+"@"+testDomain+">")
		res, err := a.JournalistAdd(context.Background(), n, pgp.Serialize(k))
		if err != nil {
			t.Fatal(err)
		}
		f.jkeys[n], f.pass[n] = k, res.Passphrase
	}
	// Onion keys as tor.Publish keeps them.
	if err := os.MkdirAll(filepath.Join(f.dir, "onion"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"intake", "journalist"} {
		key := "ED25519-V3:" + strings.Repeat(string(rune('A'+len(n)%26)), 86) + "==\n"
		if err := os.WriteFile(filepath.Join(f.dir, "onion", n+".key"), []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) kdfParams() kdf.Params { return kdf.Params(f.a.Config().SourceKDF) }

// newSource makes a source as intake/web does: a codename, the identity
// derived from it with the instance salt, a designation and the reply key.
func (f *fixture) newSource(t *testing.T) *testSource {
	t.Helper()
	cn, err := codename.New()
	if err != nil {
		t.Fatal(err)
	}
	id, err := codename.Derive(context.Background(), f.a.Pool(), cn, f.a.Store().Salt(), f.kdfParams())
	if err != nil {
		t.Fatal(err)
	}
	for {
		d, err := codename.NewDesignation()
		if err != nil {
			t.Fatal(err)
		}
		addr := strings.ReplaceAll(d, " ", ".") + "@" + testDomain
		key, err := pgp.DeriveKey(id.ReplySeed[:], d+" <"+addr+">")
		if err != nil {
			t.Fatal(err)
		}
		var thread [16]byte
		copy(thread[:], id.SourceID[16:])
		rec := store.Source{ID: id.SourceID[:], Designation: d, Address: addr, PublicKey: pgp.Serialize(key),
			Fingerprint: strings.ToUpper(hex.EncodeToString(key.PrimaryKey.Fingerprint)), ThreadID: "<" + hex.EncodeToString(thread[:]) + "@" + testDomain + ">"}
		err = f.a.Store().CreateSource(rec)
		if err == nil {
			got, err := f.a.Store().Source(rec.ID)
			if err != nil {
				t.Fatal(err)
			}
			return &testSource{codename: cn, rec: got, key: key}
		}
		if !strings.Contains(err.Error(), "exists") {
			t.Fatal(err)
		}
	}
}

// submit delivers a message from src to every journalist's INBOX.
func (f *fixture) submit(t testing.TB, src *testSource, text string) {
	t.Helper()
	if err := f.trySubmit(src, text); err != nil {
		t.Fatal(err)
	}
}

// trySubmit is submit for goroutines other than the test's.
func (f *fixture) trySubmit(src *testSource, text string) error {
	d := delivery.New(delivery.Options{Store: f.a.Store(), Domain: testDomain})
	tx, err := d.Start(context.Background(), delivery.Submission{Source: src.rec, SourceKey: src.key})
	if err != nil {
		return err
	}
	defer tx.Abort()
	if err := tx.Text(text); err != nil {
		return err
	}
	return tx.Commit(context.Background())
}

// reply stores a reply encrypted to the source's key, as mailbox/smtp does.
func (f *fixture) reply(t testing.TB, src *testSource, text string) store.BlobRef {
	t.Helper()
	st := f.a.Store()
	bw, err := st.NewBlob()
	if err != nil {
		t.Fatal(err)
	}
	defer bw.Abort()
	w, err := pgp.Encrypt(bw, []*openpgp.Entity{src.key}, pgp.EncryptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, text)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	ref, err := bw.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddReply(store.Reply{SourceID: src.rec.ID, Blob: ref}); err != nil {
		t.Fatal(err)
	}
	return ref
}

// readReplies logs in with the codename (re-derives the identity with the
// store's salt) and decrypts every reply, as the source's inbox does.
func readReplies(t *testing.T, st *store.Store, pool *kdf.Pool, pr kdf.Params, cn string) (store.Source, []string) {
	t.Helper()
	id, err := codename.Derive(context.Background(), pool, cn, st.Salt(), pr)
	if err != nil {
		t.Fatal(err)
	}
	src, err := st.Source(id.SourceID[:])
	if err != nil {
		t.Fatalf("codename login: %v", err)
	}
	key, err := pgp.DeriveKey(id.ReplySeed[:], src.Designation+" <"+src.Address+">")
	if err != nil {
		t.Fatal(err)
	}
	reps, err := st.Replies(src.ID)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, r := range reps {
		fh, err := st.OpenBlob(r.Blob.ID)
		if err != nil {
			t.Fatal(err)
		}
		md, err := openpgp.ReadMessage(fh, openpgp.EntityList{key}, nil, nil)
		if err != nil {
			fh.Close()
			t.Fatalf("reply does not decrypt with the re-derived key: %v", err)
		}
		b, err := io.ReadAll(md.UnverifiedBody)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(b))
	}
	return src, texts
}

// scanDir reports the files under dir that contain needle.
func scanDir(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			hits = append(hits, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}
