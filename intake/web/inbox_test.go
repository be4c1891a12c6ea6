package web

import (
	"bytes"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgp"
	"postern/mailbox/pgpmime"
	"postern/mailbox/store"
)

// addReply stores a journalist's reply to the only source, encrypted with
// pgpmime to the source's stored public key, as the SMTP path will.
func (e *env) addReply(subject, text string, files map[string][]byte) string {
	e.t.Helper()
	srcs, err := e.st.Sources()
	if err != nil || len(srcs) != 1 {
		e.t.Fatalf("sources: %v %d", err, len(srcs))
	}
	src := srcs[0].Source
	key, _, err := pgp.ParsePublicKey(src.PublicKey)
	if err != nil {
		e.t.Fatal(err)
	}
	bw, err := e.st.NewBlob()
	if err != nil {
		e.t.Fatal(err)
	}
	w, err := pgpmime.NewWriter(bw, []*openpgp.Entity{key}, pgpmime.Header{
		FromName: "Alice", FromAddr: "alice@postern.local", To: src.Address, Subject: subject,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := w.Text(text); err != nil {
		e.t.Fatal(err)
	}
	for name, data := range files {
		fw, err := w.File(name, "application/octet-stream")
		if err != nil {
			e.t.Fatal(err)
		}
		fw.Write(data)
	}
	if err := w.Close(); err != nil {
		e.t.Fatal(err)
	}
	ref, err := bw.Commit()
	if err != nil {
		e.t.Fatal(err)
	}
	id, err := e.st.AddReply(store.Reply{SourceID: src.ID, Blob: ref})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

var downloadRE = regexp.MustCompile(`href="(/inbox/file/[0-9a-f]+/\d+)"`)

func TestInboxReplies(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	codename := b.newCodename()
	tok := b.token("/submit")
	want(t, b.get("/inbox"), 200, "not in use yet")
	want(t, b.postMultipart("/submit", field("csrf", tok), field("message", "hello")), 200, "received")
	want(t, b.get("/inbox"), 200, "no replies yet")

	att := bytes.Repeat([]byte("attachment bytes "), 1000)
	e.addReply("Re: hello", "Thank you. <b>Can</b> you send more?", map[string][]byte{"../notes.txt": att})
	e.addReply("Second", "Another reply", nil)

	// Log out and in again: the reply key is re-derived from the codename.
	want(t, b.post("/logout", url.Values{"csrf": {tok}}), 200, "logged out")
	p := b.login(codename)
	tok = csrfOf(t, p)
	want(t, p, 200, "Thank you. &lt;b&gt;Can&lt;/b&gt; you send more?")
	if !strings.Contains(p.body, "Another reply") || !strings.Contains(p.body, "Re: hello") {
		t.Fatalf("inbox:\n%s", p.body)
	}
	// Who replied, as the source may know it: the newsroom, and the day.
	if !regexp.MustCompile(`Reply from The Daily Test, \d{4}-\d\d-\d\d<`).MatchString(p.body) {
		t.Errorf("reply heading does not name the newsroom and the day:\n%s", p.body)
	}
	m := downloadRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no download link:\n%s", p.body)
	}
	d := b.get(m[1])
	if d.status != 200 || d.body != string(att) || d.header.Get("Content-Type") != "application/octet-stream" ||
		!strings.HasPrefix(d.header.Get("Content-Disposition"), "attachment;") || strings.Contains(d.header.Get("Content-Disposition"), "/") {
		t.Fatalf("download: %d %v", d.status, d.header)
	}
	want(t, b.get(m[1][:len(m[1])-1]+"7"), 404, "Page not found")
	want(t, b.get("/inbox/file/00ff/0"), 404, "Page not found")
	want(t, b.get("/inbox/file/x/-1"), 404, "Page not found")

	// Another source cannot see or delete these replies.
	other, otok := e.loggedIn()
	want(t, other.postMultipart("/submit", field("csrf", otok), field("message", "other")), 200, "received")
	want(t, other.get(m[1]), 404, "Page not found")
	ids := regexp.MustCompile(`name="id" value="([0-9a-f]+)"`).FindAllStringSubmatch(p.body, -1)
	if len(ids) != 2 {
		t.Fatalf("%d delete forms", len(ids))
	}
	want(t, other.post("/inbox/delete", url.Values{"csrf": {otok}, "id": {ids[0][1]}}), 404, "Page not found")

	// Delete one, then all.
	p = b.post("/inbox/delete", url.Values{"csrf": {tok}, "id": {ids[0][1]}})
	want(t, p, 200, "The reply was deleted.")
	if strings.Count(p.body, `name="id"`) != 1 {
		t.Fatalf("after delete:\n%s", p.body)
	}
	e.check()
	if !strings.Contains(p.body, `class="danger-quiet">Delete this reply</button>`) {
		t.Fatalf("Delete this reply is not styled as destructive:\n%s", p.body)
	}
	// Deleting everything asks first, on a second page (no JavaScript),
	// and nothing is gone until the confirmation is posted.
	if !regexp.MustCompile(`<a class="button danger" href="/inbox/delete-all">`).MatchString(p.body) {
		t.Fatalf("no link to the confirmation of deleting all replies:\n%s", p.body)
	}
	confirm := b.get("/inbox/delete-all")
	want(t, confirm, 200, "Delete all replies?")
	if !strings.Contains(confirm.body, `<form method="post" action="/inbox/delete-all">`) || !strings.Contains(confirm.body, `class="danger">Yes, delete all replies</button>`) {
		t.Fatalf("confirmation page:\n%s", confirm.body)
	}
	if st := e.stats(); st.Replies != 1 {
		t.Fatalf("the confirmation page deleted replies: %+v", st)
	}
	p = b.post("/inbox/delete-all", url.Values{"csrf": {csrfOf(t, confirm)}})
	want(t, p, 200, "All replies were deleted.")
	if st := e.stats(); st.Replies != 0 {
		t.Fatalf("stats %+v", st)
	}
	e.check()

	// A reply the key cannot open is shown as unreadable, not a crash.
	bw, _ := e.st.NewBlob()
	bw.Write([]byte("not a pgp message"))
	ref, _ := bw.Commit()
	srcs, _ := e.st.Sources()
	if _, err := e.st.AddReply(store.Reply{SourceID: srcs[0].ID, Blob: ref}); err != nil {
		t.Fatal(err)
	}
	p1 := b.get("/inbox")
	p2 := other.get("/inbox")
	if !strings.Contains(p1.body+p2.body, "could not be decrypted") {
		t.Fatal("unreadable reply not flagged")
	}
	if p1.status != http.StatusOK || p2.status != http.StatusOK {
		t.Fatal("inbox failed on an unreadable reply")
	}
}
