package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/imap/structure"
	"postern/mailbox/pgp"
	"postern/mailbox/pgpmime"
	"postern/mailbox/store"
)

const domain = "newsroom.example"

// env is a store with journalists and one source, and their private keys.
type env struct {
	st     *store.Store
	dir    string
	keys   map[string]*openpgp.Entity // journalist name → private key
	src    store.Source
	srcKey *openpgp.Entity
}

// deriveKey makes a key quickly and deterministically from a label.
func deriveKey(t *testing.T, label, uid string) *openpgp.Entity {
	t.Helper()
	seed := sha256.Sum256([]byte(label))
	e, err := pgp.DeriveKey(seed[:], uid)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newEnv(t *testing.T, journalists ...string) *env {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	st, err := store.Init(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{st: st, dir: dir, keys: map[string]*openpgp.Entity{}}
	for _, name := range journalists {
		k := deriveKey(t, "journalist "+name, name+" <"+name+"@"+domain+">")
		e.keys[name] = k
		if err := st.AddJournalist(store.Journalist{Name: name, PublicKey: pgp.Serialize(k)}); err != nil {
			t.Fatal(err)
		}
	}
	e.srcKey = deriveKey(t, "source", "abacus zoom <abacus.zoom@"+domain+">")
	e.src = store.Source{
		ID:          bytes.Repeat([]byte{1}, 32),
		Designation: "abacus zoom",
		Address:     "abacus.zoom@" + domain,
		PublicKey:   pgp.Serialize(e.srcKey),
		ThreadID:    "<thread-root-1@" + domain + ">", // as intake stores it
	}
	if err := st.CreateSource(e.src); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) deliverer() *Deliverer {
	return New(Options{Store: e.st, Domain: domain})
}

// blobFiles lists the files in blobs/, temp files included, but for the
// store's spares (empty files made ahead of need).
func (e *env) blobFiles(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range entries {
		if !e.st.Spare(x.Name()) {
			names = append(names, x.Name())
		}
	}
	return names
}

// assertEmpty checks that the store holds no message and no blob file, and
// is consistent.
func (e *env) assertEmpty(t *testing.T) {
	t.Helper()
	if err := e.st.Check(); err != nil {
		t.Errorf("store check: %v", err)
	}
	if files := e.blobFiles(t); len(files) != 0 {
		t.Errorf("files left in blobs/: %v", files)
	}
	stats, err := e.st.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats.Messages != 0 || stats.Blobs != 0 {
		t.Errorf("stats after abort: %+v", stats)
	}
}

func (e *env) inbox(t *testing.T, j string) []store.Message {
	t.Helper()
	msgs, err := e.st.Messages(j, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func (e *env) decrypt(t *testing.T, m store.Message, key *openpgp.Entity) *pgpmime.Decrypted {
	t.Helper()
	f, err := e.st.OpenBlob(m.Blob.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := pgpmime.Decrypt(f, openpgp.EntityList{key})
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	return d
}

func TestDeliverToTwoJournalists(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	d := e.deliverer()
	ctx := context.Background()
	tx, err := d.Start(ctx, Submission{Source: e.src, SourceKey: e.srcKey, Subject: "the documents"})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	const text = "Here are the files.\nLine two: ünïcödé."
	if err := tx.Text(text); err != nil {
		t.Fatal(err)
	}
	file := bytes.Repeat([]byte("0123456789abcdef\x00\xff"), 20000) // 360 KB, binary
	fw, err := tx.File("report.pdf", "application/pdf")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(fw, bytes.NewReader(file)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	tx.Abort() // no-op after Commit
	if err := tx.Text("more"); !errors.Is(err, ErrFinished) {
		t.Errorf("Text after Commit: %v", err)
	}

	a, b := e.inbox(t, "alice"), e.inbox(t, "bob")
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("INBOX sizes: alice %d, bob %d", len(a), len(b))
	}
	if a[0].Blob.ID != b[0].Blob.ID {
		t.Errorf("two blobs for one submission: %s %s", a[0].Blob.ID, b[0].Blob.ID)
	}
	if !bytes.Equal(a[0].SourceID, e.src.ID) {
		t.Errorf("message owner = %x", a[0].SourceID)
	}
	stats, err := e.st.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if stats.Blobs != 1 || stats.Messages != 2 {
		t.Errorf("stats %+v, want 1 blob, 2 messages", stats)
	}
	if err := e.st.Check(); err != nil { // refcounts match the two records
		t.Errorf("check: %v", err)
	}
	if files := e.blobFiles(t); len(files) != 1 || files[0] != a[0].Blob.ID {
		t.Errorf("blobs/ = %v", files)
	}
	// Sent (and other) mailboxes untouched.
	if sent, _ := e.st.Messages("alice", "Sent"); len(sent) != 0 {
		t.Errorf("Sent has %d messages", len(sent))
	}

	for name, m := range map[string]store.Message{"alice": a[0], "bob": b[0]} {
		got := e.decrypt(t, m, e.keys[name])
		// Mail text travels with CRLF line ends.
		if strings.ReplaceAll(got.Text, "\r\n", "\n") != text {
			t.Errorf("%s: text %q", name, got.Text)
		}
		if got.Subject != "the documents" {
			t.Errorf("%s: protected subject %q", name, got.Subject)
		}
		var fileIdx = -1
		for i, p := range got.Parts {
			if p.Name == "report.pdf" {
				fileIdx = i
			}
		}
		if fileIdx < 0 {
			t.Fatalf("%s: no report.pdf in %+v", name, got.Parts)
		}
		r, err := got.Open(fileIdx)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(body, file) {
			t.Errorf("%s: file differs (%d bytes, want %d)", name, len(body), len(file))
		}
	}
	// The source cannot read it: not a recipient.
	f, _ := e.st.OpenBlob(a[0].Blob.ID)
	defer f.Close()
	if _, err := pgpmime.Decrypt(f, openpgp.EntityList{e.srcKey}); err == nil {
		t.Error("the source's key decrypts the submission")
	}

	// Removing alice keeps the blob for bob; removing bob too removes it:
	// the refcount really was 2.
	if err := e.st.RemoveJournalist("alice"); err != nil {
		t.Fatal(err)
	}
	if files := e.blobFiles(t); len(files) != 1 {
		t.Errorf("after removing alice, blobs/ = %v", files)
	}
	if err := e.st.RemoveJournalist("bob"); err != nil {
		t.Fatal(err)
	}
	if files := e.blobFiles(t); len(files) != 0 {
		t.Errorf("after removing both, blobs/ = %v", files)
	}
}

func TestOuterHeaders(t *testing.T) {
	e := newEnv(t, "alice")
	d := e.deliverer()
	ctx := context.Background()
	send := func(subject string) store.Message {
		tx, err := d.Start(ctx, Submission{Source: e.src, SourceKey: e.srcKey, Subject: subject})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Abort()
		if err := tx.Text("hello"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		msgs := e.inbox(t, "alice")
		return msgs[len(msgs)-1]
	}
	m1, m2 := send("secret subject"), send("")

	f, err := e.st.OpenBlob(m1.Blob.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	raw, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("secret subject")) || bytes.Contains(raw, []byte("hello")) {
		t.Error("plaintext subject or text in the stored blob")
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	from, err := mail.ParseAddress(h.Get("From"))
	if err != nil || from.Name != "abacus zoom" || from.Address != e.src.Address {
		t.Errorf("From = %q (%v)", h.Get("From"), err)
	}
	to, err := mail.ParseAddress(h.Get("To"))
	if err != nil || to.Name != "Newsroom" || to.Address != "newsroom@"+domain {
		t.Errorf("To = %q (%v)", h.Get("To"), err)
	}
	if got := h.Get("Subject"); got != "Submission from abacus zoom" {
		t.Errorf("outer Subject = %q", got)
	}
	if got := h.Get("In-Reply-To"); got != e.src.ThreadID {
		t.Errorf("In-Reply-To = %q", got)
	}
	if got := h.Get("References"); got != e.src.ThreadID {
		t.Errorf("References = %q", got)
	}
	id := h.Get("Message-Id")
	if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@"+domain+">") || len(id) != len("<@"+domain+">")+32 {
		t.Errorf("Message-ID = %q", id)
	}
	date, err := h.Date()
	if err != nil {
		t.Fatal(err)
	}
	if !date.Equal(date.UTC().Truncate(24 * time.Hour)) {
		t.Errorf("Date not day-granular: %v", date)
	}
	if ac := h.Get("Autocrypt"); !strings.Contains(ac, "addr="+e.src.Address) {
		t.Errorf("Autocrypt = %.60q", ac)
	}
	if !strings.HasPrefix(h.Get("Content-Type"), "multipart/encrypted") {
		t.Errorf("Content-Type = %q", h.Get("Content-Type"))
	}

	got := e.decrypt(t, m2, e.keys["alice"])
	if got.Subject != "Submission from abacus zoom" {
		t.Errorf("default protected subject = %q", got.Subject)
	}
	// The source's public key is attached, so a client can encrypt a reply.
	foundKey := false
	for _, p := range got.Parts {
		foundKey = foundKey || p.ContentType == "application/pgp-keys"
	}
	if !foundKey {
		t.Errorf("no application/pgp-keys part in %+v", got.Parts)
	}
	// Two messages, two random Message-IDs.
	f2, _ := e.st.OpenBlob(m2.Blob.ID)
	defer f2.Close()
	msg2, err := mail.ReadMessage(f2)
	if err != nil {
		t.Fatal(err)
	}
	if msg2.Header.Get("Message-Id") == id {
		t.Error("Message-ID repeated")
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	d := e.deliverer()
	ctx := context.Background()
	tx, err := d.Start(ctx, Submission{Source: e.src, SourceKey: e.srcKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Text("never delivered"); err != nil {
		t.Fatal(err)
	}
	fw, err := tx.File("a.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(bytes.Repeat([]byte{42}, 300<<10)); err != nil {
		t.Fatal(err)
	}
	if len(e.blobFiles(t)) != 1 {
		t.Errorf("expected one temp file while writing, got %v", e.blobFiles(t))
	}
	tx.Abort()
	tx.Abort() // twice is fine
	if err := tx.Commit(ctx); !errors.Is(err, ErrFinished) {
		t.Errorf("Commit after Abort: %v", err)
	}
	if _, err := fw.Write([]byte("x")); !errors.Is(err, ErrFinished) {
		t.Errorf("Write after Abort: %v", err)
	}
	e.assertEmpty(t)
}

func TestContextCancelledMidBody(t *testing.T) {
	e := newEnv(t, "alice")
	d := e.deliverer()
	ctx, cancel := context.WithCancel(context.Background())
	tx, err := d.Start(ctx, Submission{Source: e.src})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	fw, err := tx.File("big.bin", "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{7}, 64<<10)
	if _, err := fw.Write(chunk); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := fw.Write(chunk); !errors.Is(err, context.Canceled) {
		t.Errorf("write after cancel: %v", err)
	}
	if err := tx.Commit(context.Background()); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit after cancel: %v", err)
	}
	e.assertEmpty(t)
	if len(e.inbox(t, "alice")) != 0 {
		t.Error("cancelled submission delivered")
	}
}

// TestCancelDuringEncryption: a cancelled context also stops the ciphertext
// stream, where the Tx sees it only as a write error from the encryption.
func TestCancelSeenByBlobWriter(t *testing.T) {
	e := newEnv(t, "alice")
	ctx, cancel := context.WithCancel(context.Background())
	tx, err := e.deliverer().Start(ctx, Submission{Source: e.src})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	fw, err := tx.File("x", "")
	if err != nil {
		t.Fatal(err)
	}
	// Bypass the Tx's own check to reach the blob writer's.
	inner := fw.(fileWriter).w
	cancel()
	var werr error
	for i := 0; i < 64 && werr == nil; i++ {
		_, werr = inner.Write(bytes.Repeat([]byte{1}, 64<<10))
	}
	if werr == nil {
		t.Fatal("4 MiB written into a cancelled delivery")
	}
	if err := tx.Commit(context.Background()); err == nil {
		t.Fatal("Commit succeeded after the stream failed")
	}
	e.assertEmpty(t)
}

func TestCommitContextCancelled(t *testing.T) {
	e := newEnv(t, "alice")
	tx, err := e.deliverer().Start(context.Background(), Submission{Source: e.src})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	if err := tx.Text("hi"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tx.Commit(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit: %v", err)
	}
	e.assertEmpty(t)
}

func TestCommitAfterJournalistRemoved(t *testing.T) {
	e := newEnv(t, "alice", "bob", "carol")
	ctx := context.Background()
	tx, err := e.deliverer().Start(ctx, Submission{Source: e.src})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	if err := tx.Text("hello"); err != nil {
		t.Fatal(err)
	}
	if err := e.st.RemoveJournalist("bob"); err != nil {
		t.Fatal(err)
	}
	// Added after Start: the mail is not encrypted to dave, so dave gets nothing.
	dave := deriveKey(t, "journalist dave", "dave <dave@"+domain+">")
	if err := e.st.AddJournalist(store.Journalist{Name: "dave", PublicKey: pgp.Serialize(dave)}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	for _, j := range []string{"alice", "carol"} {
		msgs := e.inbox(t, j)
		if len(msgs) != 1 {
			t.Fatalf("%s INBOX has %d messages", j, len(msgs))
		}
		if got := e.decrypt(t, msgs[0], e.keys[j]); got.Text != "hello" {
			t.Errorf("%s: text %q", j, got.Text)
		}
	}
	if n := len(e.inbox(t, "dave")); n != 0 {
		t.Errorf("dave got %d messages he cannot decrypt", n)
	}
	if err := e.st.Check(); err != nil {
		t.Error(err)
	}
	if stats, _ := e.st.Stats(); stats.Blobs != 1 || stats.Messages != 2 {
		t.Errorf("stats %+v", stats)
	}
}

func TestCommitAllJournalistsRemoved(t *testing.T) {
	e := newEnv(t, "alice")
	ctx := context.Background()
	tx, err := e.deliverer().Start(ctx, Submission{Source: e.src})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	if err := tx.Text("hello"); err != nil {
		t.Fatal(err)
	}
	if err := e.st.RemoveJournalist("alice"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); !errors.Is(err, ErrNoRecipients) {
		t.Errorf("Commit: %v, want ErrNoRecipients", err)
	}
	e.assertEmpty(t)
}

// TestCommitSourceDeleted: the source deleted its account mid-upload; the
// delivery fails and leaves nothing.
func TestCommitSourceDeleted(t *testing.T) {
	e := newEnv(t, "alice")
	ctx := context.Background()
	tx, err := e.deliverer().Start(ctx, Submission{Source: e.src})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	if err := tx.Text("hello"); err != nil {
		t.Fatal(err)
	}
	if err := e.st.DeleteSource(e.src.ID); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err == nil {
		t.Fatal("delivered for a deleted source")
	}
	e.assertEmpty(t)
}

func TestStartRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("no journalists", func(t *testing.T) {
		e := newEnv(t)
		if _, err := e.deliverer().Start(ctx, Submission{Source: e.src}); !errors.Is(err, ErrNoRecipients) {
			t.Errorf("err = %v", err)
		}
		e.assertEmpty(t)
	})
	t.Run("only unusable stored keys", func(t *testing.T) {
		e := newEnv(t)
		if err := e.st.AddJournalist(store.Journalist{Name: "broken", PublicKey: []byte("not a key")}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.deliverer().Start(ctx, Submission{Source: e.src}); !errors.Is(err, ErrNoRecipients) {
			t.Errorf("err = %v, want ErrNoRecipients", err)
		}
		e.assertEmpty(t)
	})
	t.Run("bad source record", func(t *testing.T) {
		e := newEnv(t, "alice")
		for _, mod := range []func(*store.Source){
			func(s *store.Source) { s.ID = nil },
			func(s *store.Source) { s.Address = "" },
			func(s *store.Source) { s.Designation = "a\r\nBcc: x@y" },
			func(s *store.Source) { s.ThreadID = "x\n" },
		} {
			src := e.src
			mod(&src)
			if _, err := e.deliverer().Start(ctx, Submission{Source: src}); err == nil {
				t.Errorf("accepted %+v", src)
			}
		}
		e.assertEmpty(t)
	})
	t.Run("cancelled context", func(t *testing.T) {
		e := newEnv(t, "alice")
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := e.deliverer().Start(cctx, Submission{Source: e.src}); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
		e.assertEmpty(t)
	})
}

// A journalist whose key stopped passing the rules (say it expired) is left out;
// the others still get the submission.
func TestUnusableKeySkipped(t *testing.T) {
	e := newEnv(t, "alice")
	if err := e.st.AddJournalist(store.Journalist{Name: "broken", PublicKey: []byte("not a key")}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tx, err := e.deliverer().Start(ctx, Submission{Source: e.src})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Text("hello"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if a, b := e.inbox(t, "alice"), e.inbox(t, "broken"); len(a) != 1 || len(b) != 0 {
		t.Fatalf("INBOX sizes: alice %d, broken %d", len(a), len(b))
	}
}

func TestArchiveKey(t *testing.T) {
	e := newEnv(t, "alice")
	archive := deriveKey(t, "archive", "archive <archive@"+domain+">")
	d := New(Options{Store: e.st, Domain: domain, ArchiveKey: archive})
	ctx := context.Background()
	tx, err := d.Start(ctx, Submission{Source: e.src})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Abort()
	if err := tx.Text("for the archive too"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := e.inbox(t, "alice")
	if got := e.decrypt(t, msgs[0], archive); got.Text != "for the archive too" {
		t.Errorf("archive key reads %q", got.Text)
	}
}

func TestCompress(t *testing.T) {
	e := newEnv(t, "alice")
	var alice []*openpgp.Entity
	for _, k := range e.keys {
		alice = append(alice, k)
	}
	if !pgp.CompressionApplies(alice) {
		t.Fatal("the test keys do not list ZLIB: the compression path would go untested")
	}
	ctx := context.Background()
	body := bytes.Repeat([]byte("compressible "), 20000) // 260 KB
	size := func(compress bool) int64 {
		d := New(Options{Store: e.st, Domain: domain, Compress: compress})
		tx, err := d.Start(ctx, Submission{Source: e.src})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Abort()
		fw, err := tx.File("a.txt", "text/plain")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write(body); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		msgs := e.inbox(t, "alice")
		m := msgs[len(msgs)-1]
		r, err := e.decrypt(t, m, e.keys["alice"]).Open(0)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		if !bytes.Equal(got, body) {
			t.Errorf("compress=%v: body differs", compress)
		}
		return m.Blob.Size
	}
	plain, packed := size(false), size(true)
	if packed*4 > plain {
		t.Errorf("compressed blob %d bytes, uncompressed %d", packed, plain)
	}
}

// The IMAP structure is computed on the way in and stored with the message,
// and it matches a walk of the committed file.
func TestMetaCachedAtDelivery(t *testing.T) {
	e := newEnv(t, "alice")
	ctx := context.Background()
	tx, err := e.deliverer().Start(ctx, Submission{Source: e.src, SourceKey: e.srcKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Text("hello"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	m := e.inbox(t, "alice")[0]
	if len(m.Meta) == 0 {
		t.Fatal("no structure cached with the message")
	}
	f, err := e.st.OpenBlob(m.Blob.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := structure.Meta(f)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Meta, want) {
		t.Error("cached structure differs from a walk of the stored file")
	}
}

// TestSubmissionSizeIsPadme protects the size padding of submissions: the
// stored file and the size the mailbox reports (RFC822.SIZE) are the same
// Padmé length whatever the source sent.
func TestSubmissionSizeIsPadme(t *testing.T) {
	e := newEnv(t, "alice")
	d := e.deliverer()
	ctx := context.Background()
	for _, n := range []int{0, 1500, 20 << 10, 300 << 10} {
		tx, err := d.Start(ctx, Submission{Source: e.src, SourceKey: e.srcKey, Subject: "sizes"})
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Text(strings.Repeat("words of the source ", n/20)); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range e.inbox(t, "alice") {
		fi, err := os.Stat(filepath.Join(e.dir, "blobs", m.Blob.ID))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != m.Blob.Size || pgp.Padme(m.Blob.Size) != m.Blob.Size {
			t.Errorf("stored %d bytes, listed %d: not one Padmé length", fi.Size(), m.Blob.Size)
		}
	}
}
