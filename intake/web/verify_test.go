package web

import (
	"html"
	"strings"
	"testing"
)

// TestVerifyPageInSourcesLanguage: /verify explains how to check the
// manifest in every language the form speaks (issue 17), the EXPIRED
// warning included, inside the same layout as every page (html lang and
// dir, the language list), and with the gpg commands left as they are.
func TestVerifyPageInSourcesLanguage(t *testing.T) {
	const fpr, date, canary = "0123456789ABCDEF0123456789ABCDEF01234567", "2026-10-01", "We have received no secret order."
	m := Manifest{Signed: []byte("signed"), Organisation: "The Daily Test", Date: date, Canary: canary, OrgKey: fpr, Expired: true}
	e := newEnv(t, func(o *Options) { o.Manifest = func() (Manifest, bool) { return m, true } })
	none := newEnv(t, nil)
	for i, l := range e.srv.i18n.langs {
		pr := e.srv.i18n.printer(i)
		p := e.browser().get("/verify?l=" + l.Code)
		body := html.UnescapeString(p.body)
		if p.status != 200 || !strings.Contains(p.body, `<html lang="`+l.Code+`" dir="`+dir(l)+`">`) {
			t.Errorf("%s: status %d or no html lang/dir:\n%.400s", l.Code, p.status, p.body)
		}
		for _, c := range e.srv.i18n.codes {
			if !strings.Contains(p.body, `href="/verify?l=`+c+`"`) {
				t.Errorf("%s: the language list lacks %s", l.Code, c)
			}
		}
		for _, key := range []string{"verify.title", "verify.intro", "verify.step.2", "verify.step.3", "verify.download"} {
			if !strings.Contains(body, pr.Sprintf(key)) {
				t.Errorf("%s: /verify lacks %s %q", l.Code, key, pr.Sprintf(key))
			}
		}
		for _, want := range []string{
			isolates.Replace(pr.Sprintf("verify.step.1", fpr)),
			isolates.Replace(pr.Sprintf("verify.canary", date, canary)),
			isolates.Replace(pr.Sprintf("verify.expired", date)),
			"gpg --import org-key.asc", "gpg --verify manifest.asc", "intake_onion",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: /verify lacks %q", l.Code, want)
			}
		}
		if l.Code != "en" && (strings.Contains(body, english["verify.intro"]) || strings.Contains(body, "EXPIRED: the newsroom")) {
			t.Errorf("%s: /verify still speaks English:\n%s", l.Code, body)
		}
		q := none.browser().get("/verify?l=" + l.Code)
		if q.status != 200 || !strings.Contains(html.UnescapeString(q.body), pr.Sprintf("verify.none")) {
			t.Errorf("%s: /verify without a manifest: %d\n%s", l.Code, q.status, q.body)
		}
	}
	if len(e.srv.i18n.langs) < 2 {
		t.Error("only English is offered: a catalogue is incomplete")
	}
}
