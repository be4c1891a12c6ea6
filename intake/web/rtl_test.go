package web

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDestructiveActionsSetApart: on the reply page, the three ways of
// deleting are styled as destructive and sit in their own section, apart
// from "Send more"; deleting the account asks on a second page.
func TestDestructiveActionsSetApart(t *testing.T) {
	e := newEnv(t, nil)
	b, tok := e.loggedIn()
	want(t, b.postMultipart("/submit", field("csrf", tok), field("message", "first")), 200, "received")
	p := b.get("/inbox")
	send := strings.Index(p.body, `>Send more</a>`)
	zone := strings.Index(p.body, `<section class="danger-zone"`)
	if send < 0 || zone < send {
		t.Fatalf("Send more is not before and outside the deletion section:\n%s", p.body)
	}
	if !strings.Contains(p.body[zone:], `<a class="button danger" href="/account/delete">Delete my account</a>`) {
		t.Fatalf("Delete my account is not a destructive link in the deletion section:\n%s", p.body)
	}
	confirm := b.get("/account/delete")
	want(t, confirm, 200, "This deletes everything you sent")
	if !strings.Contains(confirm.body, `<button type="submit" class="danger">Yes, delete everything</button>`) {
		t.Fatalf("account confirmation:\n%s", confirm.body)
	}
	if regexp.MustCompile(`<script|onclick`).MatchString(confirm.body + p.body) {
		t.Fatal("script on a confirmation")
	}
}

// TestRightToLeftPages: every right-to-left language's pages carry
// dir="rtl", while the codename (never translated) stays lang="en"
// dir="ltr", and values in sentences are bidi-isolated.
func TestRightToLeftPages(t *testing.T) {
	all, err := AllLanguages()
	if err != nil {
		t.Fatal(err)
	}
	var rtl []string
	for _, l := range all {
		if l.RTL {
			rtl = append(rtl, l.Code)
		}
	}
	for _, want := range []string{"ar", "fa", "he"} {
		if !slices.Contains(rtl, want) {
			t.Errorf("%s is not a right-to-left catalogue (have %v)", want, rtl)
		}
	}
	e := newEnv(t, nil)
	for _, code := range rtl {
		b := e.browser()
		land := b.get("/?l=" + code)
		if !strings.Contains(land.body, `<html lang="`+code+`" dir="rtl">`) {
			t.Errorf("%s: landing page not dir=rtl:\n%.400s", code, land.body)
		}
		p := b.post("/new?l="+code, url.Values{"csrf": {csrfOf(t, land)}})
		if !strings.Contains(p.body, `dir="rtl">`) || codenameRE.FindStringSubmatch(p.body) == nil {
			t.Errorf("%s: codename page lacks dir=rtl or a lang=en dir=ltr codename:\n%s", code, p.body)
		}
		sub := b.get("/submit?l=" + code)
		if !strings.Contains(sub.raw, "\u2068"+humanBytes(e.srv.o.MaxSubmissionBytes)+"\u2069") {
			t.Errorf("%s: the size limit is not bidi-isolated:\n%s", code, sub.raw)
		}
		if !strings.Contains(b.get("/login?l="+code).body, `name="codename" lang="en" dir="ltr"`) {
			t.Errorf("%s: the codename field is not left to right", code)
		}
	}
	if p := e.browser().get("/"); !strings.Contains(p.body, `<html lang="en" dir="ltr">`) {
		t.Error("English page not dir=ltr")
	}
}
