package web

import (
	"strings"
	"testing"
)

func TestParseNewsroom(t *testing.T) {
	got, err := ParseNewsroom(strings.NewReader("# our words\n\n[fr]\nname = Le Quotidien\nintro = Nos journalistes lisent tout.\n[FA]\nname = روزنامه\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got["fr"] != (NewsroomText{"Le Quotidien", "Nos journalistes lisent tout."}) || got["fa"].Name != "روزنامه" || len(got) != 2 {
		t.Fatalf("%+v", got)
	}
	for _, bad := range []string{
		"name = x\n",            // before any language
		"[xx]\nname = x\n",      // not a language of the form
		"[fr]\ncolour = red\n",  // unknown key
		"[fr]\njust text\n",     // no key
		"[fr]\nname = a\x07b\n", // control character
		"[fr]\nintro = " + strings.Repeat("x", maxNewsroomText+1) + "\n",
	} {
		if _, err := ParseNewsroom(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		} else if !strings.Contains(err.Error(), "line") {
			t.Errorf("error does not name the line: %v", err)
		}
	}
}

// TestNewsroomTextEscaped: the newsroom's name and paragraph in a
// language replace the default name on that language's pages, as text:
// markup in them is shown, never run.
func TestNewsroomTextEscaped(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Newsroom = map[string]NewsroomText{"fr": {Name: `Le <b>Quotidien</b>`, Intro: `Écrivez-nous <script>alert(1)</script> & merci`}}
	})
	b := e.browser()
	fr := b.get("/?l=fr")
	for _, want := range []string{"Le &lt;b&gt;Quotidien&lt;/b&gt;", `<p class="newsroom">Écrivez-nous &lt;script&gt;alert(1)&lt;/script&gt; &amp; merci</p>`, "<title>Transmettre des informations en sécurité à Le &lt;b&gt;Quotidien&lt;/b&gt;"} {
		if !strings.Contains(fr.body, want) {
			t.Errorf("French page lacks %q:\n%s", want, fr.body)
		}
	}
	if strings.Contains(fr.body, "<b>Quotidien") || strings.Contains(fr.body, "<script>") {
		t.Fatal("newsroom markup reached the page")
	}
	en := b.get("/?l=en")
	if !strings.Contains(en.body, "The Daily Test") || strings.Contains(en.body, "Quotidien") || strings.Contains(en.body, `class="newsroom"`) {
		t.Errorf("English page:\n%s", en.body)
	}
}
