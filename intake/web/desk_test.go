package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgp"
	"postern/mailbox/store"
)

// deskEnv is a form with two listed desks (investigations: alice;
// politics: bob), a hidden one (partner: bob) and a listed desk nobody
// sits on (empty), which the form never offers.
type deskEnv struct {
	*env
	bobKey *openpgp.Entity
}

func newDeskEnv(t *testing.T) *deskEnv {
	t.Helper()
	e := newEnv(t, nil)
	bob, err := pgp.DeriveKey(bytes.Repeat([]byte{9}, 32), "Bob <bob@newsroom.example>")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.AddJournalist(store.Journalist{Name: "bob", PublicKey: pgp.Serialize(bob), Fingerprint: fingerprint(bob)}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []store.Desk{
		{Slug: "investigations", Title: "Investigations", Description: "Long inquiries into power.", Journalists: []string{"alice"}},
		{Slug: "politics", Title: "Politics desk", Journalists: []string{"bob"}},
		{Slug: "partner", Title: "Partner outlet", Hidden: true, Journalists: []string{"bob"}},
		{Slug: "empty", Title: "Nobody reads this"},
	} {
		if err := e.st.AddDesk(d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.st.RemoveDesk(store.DefaultDesk, false); err != nil {
		t.Fatal(err)
	}
	return &deskEnv{env: e, bobKey: bob}
}

func (e *deskEnv) inboxSize(j string) int {
	e.t.Helper()
	msgs, err := e.st.Messages(j, "INBOX")
	if err != nil {
		e.t.Fatal(err)
	}
	return len(msgs)
}

func TestFirstSubmissionAsksForTheDeskAndTheCodenameKeepsIt(t *testing.T) {
	e := newDeskEnv(t)
	b := e.browser()
	b.newCodename()
	p := b.get("/submit")
	for _, want := range []string{`name="desk" value="investigations" required aria-describedby="desk-investigations-about"`,
		"Long inquiries into power.", `name="desk" value="politics" required>`, "Who should receive your message?"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("submit page lacks %q:\n%s", want, p.body)
		}
	}
	for _, not := range []string{"checked", "partner", "Partner outlet", "Nobody reads this"} {
		if strings.Contains(p.body, not) {
			t.Errorf("submit page shows %q", not)
		}
	}
	// The radios come right after the token, before the subject.
	if strings.Index(p.body, `name="desk"`) > strings.Index(p.body, `name="subject"`) {
		t.Error("the desk field comes after the subject: the server needs it before the files")
	}
	tok := csrfOf(t, p)
	// No choice: refused, nothing stored.
	p = b.postMultipart("/submit", field("csrf", tok), field("message", "which desk?"))
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "Choose who should receive your message") {
		t.Fatalf("no desk chosen: %d\n%s", p.status, p.body)
	}
	if s := e.stats(); s.Sources != 0 || s.Messages != 0 {
		t.Fatalf("stored after a refusal: %+v", s)
	}
	p = b.postMultipart("/submit", field("csrf", tok), field("desk", "politics"), field("message", "for politics"))
	if p.status != http.StatusOK || !strings.HasSuffix(p.url, "/submitted") {
		t.Fatalf("submission: %d %s", p.status, p.url)
	}
	if e.inboxSize("bob") != 1 || e.inboxSize("alice") != 0 {
		t.Fatalf("bob %d, alice %d; want the politics desk only", e.inboxSize("bob"), e.inboxSize("alice"))
	}
	// Later: no choice, the same desk, and the pages say which.
	p = b.get("/submit")
	if strings.Contains(p.body, `name="desk"`) || !strings.Contains(p.body, "You are writing to: Politics desk") {
		t.Errorf("second submit page:\n%s", p.body)
	}
	p = b.postMultipart("/submit", field("csrf", tok), field("message", "more for politics"))
	if p.status != http.StatusOK || e.inboxSize("bob") != 2 || e.inboxSize("alice") != 0 {
		t.Fatalf("second submission: %d; bob %d, alice %d", p.status, e.inboxSize("bob"), e.inboxSize("alice"))
	}
	if p = b.get("/inbox"); !strings.Contains(p.body, "You are writing to: Politics desk") {
		t.Errorf("inbox does not say the desk:\n%s", p.body)
	}
	// A forged desk on a later submission: refused, nothing stored.
	p = b.postMultipart("/submit", field("csrf", tok), field("desk", "investigations"), field("message", "sneak"))
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "cannot be chosen") {
		t.Fatalf("forged desk on a later submission: %d\n%s", p.status, p.body)
	}
	if e.inboxSize("alice") != 0 || e.inboxSize("bob") != 2 {
		t.Fatal("the forged submission was stored")
	}
	e.check()
}

func TestForgedDeskFieldIsRefused(t *testing.T) {
	e := newDeskEnv(t)
	b := e.browser()
	b.newCodename()
	tok := b.token("/submit")
	for _, forged := range []string{"partner", "nosuchdesk", "../politics", "Politics", strings.Repeat("a", 500)} {
		p := b.postMultipart("/submit", field("csrf", tok), field("desk", forged), field("message", "x"))
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "cannot be chosen") {
			t.Errorf("desk %.20q: %d\n%s", forged, p.status, p.body)
		}
	}
	if s := e.stats(); s.Sources != 0 || s.Messages != 0 || s.Blobs != 0 {
		t.Fatalf("stored after forged desks: %+v", s)
	}
	e.check()
}

func TestDeskLinkChoosesTheDeskAndReachesAHiddenOne(t *testing.T) {
	e := newDeskEnv(t)
	b := e.browser()
	land := b.get("/d/partner")
	if land.status != http.StatusOK || !strings.Contains(land.body, "You are writing to: Partner outlet") ||
		!strings.Contains(land.body, `name="desk" value="partner"`) {
		t.Fatalf("/d/partner: %d\n%s", land.status, land.body)
	}
	p := b.post("/new", url.Values{"csrf": {csrfOf(t, land)}, "desk": {"partner"}})
	if p.status != http.StatusOK || codenameRE.FindStringSubmatch(p.body) == nil {
		t.Fatalf("new codename from a desk link: %d", p.status)
	}
	p = b.get("/submit")
	if strings.Contains(p.body, `type="radio"`) || !strings.Contains(p.body, "You are writing to: Partner outlet") {
		t.Errorf("submit page after a desk link:\n%s", p.body)
	}
	p = b.postMultipart("/submit", field("csrf", csrfOf(t, p)), field("message", "to the partner"))
	if p.status != http.StatusOK || e.inboxSize("bob") != 1 || e.inboxSize("alice") != 0 {
		t.Fatalf("submission through the link: %d; bob %d alice %d", p.status, e.inboxSize("bob"), e.inboxSize("alice"))
	}
	src, err := e.st.Sources()
	if err != nil || len(src) != 1 || src[0].Desk != "partner" {
		t.Fatalf("source desk: %+v %v", src, err)
	}

	for path, want := range map[string]struct {
		status int
		text   string
	}{
		"/d/unknown":                    {http.StatusNotFound, "does not exist"},
		"/d/Partner":                    {http.StatusNotFound, "does not exist"},
		"/d/empty":                      {http.StatusServiceUnavailable, "cannot take messages right now"},
		"/d/a%2Fb":                      {http.StatusNotFound, "does not exist"},
		"/d/" + strings.Repeat("x", 40): {http.StatusNotFound, "does not exist"},
	} {
		p := e.browser().get(path)
		if p.status != want.status || !strings.Contains(p.body, want.text) {
			t.Errorf("%s: %d, want %d with %q\n%s", path, p.status, want.status, want.text, p.body)
		}
	}
	// A forged "get a codename" form naming a desk nobody reads.
	b2 := e.browser()
	land = b2.get("/")
	if strings.Contains(land.body, "partner") {
		t.Error("the landing page names the hidden desk")
	}
	p = b2.post("/new", url.Values{"csrf": {csrfOf(t, land)}, "desk": {"empty"}})
	if p.status != http.StatusServiceUnavailable {
		t.Errorf("new codename for an empty desk: %d", p.status)
	}
}

func TestMetadataListsVisibleDesksOnly(t *testing.T) {
	e := newDeskEnv(t)
	p := e.browser().get("/metadata")
	var doc struct {
		Keys  []string `json:"submission_key_fingerprints"`
		Desks []struct {
			Slug         string   `json:"slug"`
			Fingerprints []string `json:"key_fingerprints"`
		} `json:"desks"`
	}
	if err := json.Unmarshal([]byte(p.body), &doc); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, d := range doc.Desks {
		got[d.Slug] = d.Fingerprints
	}
	if _, ok := got["partner"]; ok || strings.Contains(p.body, "Partner outlet") {
		t.Errorf("metadata lists the hidden desk:\n%s", p.body)
	}
	if len(got["investigations"]) != 1 || got["investigations"][0] != fingerprint(e.jkey) ||
		len(got["politics"]) != 1 || got["politics"][0] != fingerprint(e.bobKey) {
		t.Errorf("desk fingerprints: %+v", got)
	}
	if len(doc.Keys) != 2 {
		t.Errorf("submission keys %v", doc.Keys)
	}
}

// A desk that lost its last journalist while the source was writing: a
// clear page, nothing stored.
func TestDeskWithoutJournalistGetsAClearPage(t *testing.T) {
	e := newDeskEnv(t)
	b := e.browser()
	b.newCodename()
	tok := b.token("/submit")
	if _, err := e.st.UnassignJournalist("investigations", "alice"); err != nil {
		t.Fatal(err)
	}
	for _, desk := range []string{"investigations", "empty"} {
		p := b.postMultipart("/submit", field("csrf", tok), field("desk", desk), field("message", "x"))
		if p.status != http.StatusServiceUnavailable || !strings.Contains(p.body, "cannot take messages right now") {
			t.Errorf("desk %s without journalist: %d\n%s", desk, p.status, p.body)
		}
	}
	if s := e.stats(); s.Sources != 0 || s.Messages != 0 || s.Blobs != 0 {
		t.Fatalf("stored: %+v", s)
	}
}
