package delivery

import (
	"context"
	"fmt"
	"io"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"testing"

	"postern/mailbox/pgp/pgptest"
	"postern/mailbox/store"
)

// pkeskKeyIDs lists the key ids of the session-key packets of a stored
// submission, as gpg reads them (--list-packets needs no key).
func pkeskKeyIDs(t *testing.T, e *env, m store.Message) []string {
	t.Helper()
	raw := e.blobBytes(t, m)
	i, j := strings.Index(raw, "-----BEGIN PGP MESSAGE-----"), strings.Index(raw, "-----END PGP MESSAGE-----")
	if i < 0 || j < i {
		t.Fatal("no armored message in the mail")
	}
	g := pgptest.NewGPG(t)
	out, _, _ := g.RunErr([]byte(raw[i:j+len("-----END PGP MESSAGE-----")]+"\n"), "--list-packets")
	var ids []string
	for _, m := range regexp.MustCompile(`:pubkey enc packet: .*keyid ([0-9A-F]{16})`).FindAllStringSubmatch(string(out), -1) {
		ids = append(ids, m[1])
	}
	slices.Sort(ids)
	return ids
}

func (e *env) blobBytes(t *testing.T, m store.Message) string {
	t.Helper()
	f, err := e.st.OpenBlob(m.Blob.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// encryptionKeyIDs are the key ids a PKESK to name's key carries.
func (e *env) encryptionKeyIDs(names ...string) []string {
	var ids []string
	for _, n := range names {
		for _, sk := range e.keys[n].Subkeys {
			ids = append(ids, fmt.Sprintf("%016X", sk.PublicKey.KeyId))
		}
	}
	slices.Sort(ids)
	return ids
}

// Two desks with different journalists: a submission to desk A is encrypted
// to A's keys only, lands only in A's mailboxes, and its To names desk A.
func TestSubmissionToADeskIsEncryptedToThatDeskOnly(t *testing.T) {
	e := newEnv(t, "alice", "anna", "bob")
	// The default desk holds all three; make "investigations" of alice and
	// anna, and put bob alone on "politics".
	if err := e.st.AddDesk(store.Desk{Slug: "investigations", Title: "Investigations", Journalists: []string{"alice", "anna"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.AddDesk(store.Desk{Slug: "politics", Title: "Politique & État", Journalists: []string{"bob"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.MoveSource(e.src.ID, "investigations"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tx, err := e.deliverer().Start(ctx, Submission{Source: e.src, SourceKey: e.srcKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Text(strings.Repeat("a realistic tip, several kilobytes long. ", 200)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := e.inbox(t, "alice"), e.inbox(t, "bob")
	if len(a) != 1 || len(e.inbox(t, "anna")) != 1 || len(b) != 0 {
		t.Fatalf("INBOX sizes: alice %d, anna %d, bob %d; want 1, 1, 0", len(a), len(e.inbox(t, "anna")), len(b))
	}
	if got, want := pkeskKeyIDs(t, e, a[0]), e.encryptionKeyIDs("alice", "anna"); !slices.Equal(got, want) {
		t.Errorf("PKESK key ids %v, want the investigations desk's %v only", got, want)
	}
	msg, err := mail.ReadMessage(strings.NewReader(e.blobBytes(t, a[0])))
	if err != nil {
		t.Fatal(err)
	}
	if to := msg.Header.Get("To"); to != `"Investigations" <investigations@`+domain+`>` {
		t.Errorf("To = %q", to)
	}

	// A source of the politics desk (non-ASCII title) reaches bob only.
	if err := e.st.MoveSource(e.src.ID, "politics"); err != nil {
		t.Fatal(err)
	}
	tx, err = e.deliverer().Start(ctx, Submission{Source: e.src})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Text("to politics"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	b = e.inbox(t, "bob")
	if len(b) != 1 || len(e.inbox(t, "alice")) != 1 {
		t.Fatalf("after the move: bob %d, alice %d", len(b), len(e.inbox(t, "alice")))
	}
	if got, want := pkeskKeyIDs(t, e, b[0]), e.encryptionKeyIDs("bob"); !slices.Equal(got, want) {
		t.Errorf("PKESK key ids %v, want bob's %v only", got, want)
	}
	msg, _ = mail.ReadMessage(strings.NewReader(e.blobBytes(t, b[0])))
	to, err := mail.ParseAddress(msg.Header.Get("To"))
	if err != nil || to.Name != "Politique & État" || to.Address != "politics@"+domain {
		t.Errorf("To = %q (%v)", msg.Header.Get("To"), err)
	}
}

// A desk with no journalist takes no submission.
func TestDeskWithoutJournalistRefusesSubmissions(t *testing.T) {
	e := newEnv(t, "alice")
	if err := e.st.AddDesk(store.Desk{Slug: "empty", Title: "Empty"}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.MoveSource(e.src.ID, "empty"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.deliverer().Start(context.Background(), Submission{Source: e.src}); err != ErrNoRecipients {
		t.Fatalf("Start to an empty desk: %v, want ErrNoRecipients", err)
	}
	e.assertEmpty(t)
}
