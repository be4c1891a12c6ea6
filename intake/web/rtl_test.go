package web

import (
	"regexp"
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
