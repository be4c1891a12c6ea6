package web

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCataloguesComplete is the completeness test: every catalogue the
// binary carries has every message of the code, none empty or fuzzy, each
// with exactly English's placeholders, a usable Plural-Forms rule and a
// header saying who translated it and whether a native speaker reviewed it.
func TestCataloguesComplete(t *testing.T) {
	all, err := AllLanguages()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 2 {
		t.Fatalf("only %d languages", len(all))
	}
	for _, l := range all {
		for _, p := range l.Problems {
			t.Errorf("%s: %s", l.Code, p)
		}
		if l.Name == "" || l.Name == english["lang.name"] && l.Code != "en" {
			t.Errorf("%s: name %q", l.Code, l.Name)
		}
	}
}

// brokenCatalogue is fr.po with one change.
func brokenCatalogue(t *testing.T, old, new string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("locales", "fr.po"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("fr.po lacks %q", old)
	}
	return []byte(strings.Replace(string(b), old, new, 1))
}

// TestIncompleteCatalogueNotServed proves the check catches each defect and
// that a language with a defect is not offered, not even when the admin
// lists it.
func TestIncompleteCatalogueNotServed(t *testing.T) {
	cases := []struct{ name, old, new, want string }{
		{"missing", `msgctxt "layout.home"`, `msgctxt "layout.home.gone"`, "layout.home: missing"},
		{"empty", `msgstr "Accueil"`, `msgstr ""`, "layout.home: empty"},
		{"fuzzy", "msgctxt \"layout.home\"", "#, fuzzy\nmsgctxt \"layout.home\"", "layout.home: fuzzy"},
		{"placeholder lost", `msgstr "Transmettre des informations en sécurité à %s"`, `msgstr "Transmettre des informations en sécurité"`, "landing.title: placeholders differ"},
		{"placeholder changed", `msgstr "Transmettre des informations en sécurité à %s"`, `msgstr "Transmettre des informations en sécurité à %d"`, "landing.title: placeholders differ"},
		{"plural form empty", `msgstr[1] "Jusqu’à %d caractères."`, `msgstr[1] ""`, "submit.message.hint: plural form 1 empty"},
		{"plural placeholder", `msgstr[0] "Jusqu’à %d caractère."`, `msgstr[0] "Jusqu’à un caractère."`, "submit.message.hint: plural form 0: placeholders differ"},
		{"no plural rule", `"Plural-Forms: nplurals=2; plural=(n > 1);\n"`, ``, "Plural-Forms"},
		{"no review line", `"X-Postern-Review: not reviewed by a native speaker\n"`, ``, "X-Postern-Review"},
	}
	for _, c := range cases {
		l, err := loadLanguage("fr", brokenCatalogue(t, c.old, c.new))
		if err != nil {
			t.Fatal(err)
		}
		if l.Complete() || !strings.Contains(strings.Join(l.Problems, "\n"), c.want) {
			t.Errorf("%s: problems %q, want %q", c.name, l.Problems, c.want)
		}
		in := &i18n{}
		if err := in.offer([]*Language{english0(t), l}, []string{"en", "fr"}); err != nil {
			t.Fatal(err)
		}
		if len(in.langs) != 1 || in.codes[0] != "en" {
			t.Errorf("%s: offered %v", c.name, in.codes)
		}
	}
	// Reordering placeholders with explicit indexes is allowed.
	if !samePlaceholders("Reply from %s, %s", "%[2]s: réponse de %[1]s") || samePlaceholders("%s %d", "%d %s") {
		t.Error("placeholder comparison")
	}
}

func english0(t *testing.T) *Language {
	all, err := AllLanguages()
	if err != nil {
		t.Fatal(err)
	}
	return all[0]
}

// TestPluralForms: the catalogue's Plural-Forms rule picks the form.
func TestPluralForms(t *testing.T) {
	in, err := newI18n([]string{"en", "fr"})
	if err != nil {
		t.Fatal(err)
	}
	en, fr := in.printer(0), in.printer(1)
	for _, c := range []struct {
		p    printer
		n    int
		want string
	}{
		{en, 1, "Up to \u20681\u2069 character."},
		{en, 1000, "Up to \u20681,000\u2069 characters."},
		{fr, 1000, "Jusqu’à \u20681\u00a0000\u2069 caractères."},
		{en, 0, "Up to \u20680\u2069 characters."},
		{fr, 1, "Jusqu’à \u20681\u2069 caractère."},
		{fr, 0, "Jusqu’à \u20680\u2069 caractère."}, // French: 0 is singular
		{fr, 2, "Jusqu’à \u20682\u2069 caractères."},
	} {
		if got := c.p.Sprintf("submit.message.hint", c.n); got != c.want {
			t.Errorf("n=%d: %q, want %q", c.n, got, c.want)
		}
	}
}

// TestTwentySixLanguages: the form speaks the 26 languages of issue 16,
// all complete, three of them right to left.
func TestTwentySixLanguages(t *testing.T) {
	all, err := AllLanguages()
	if err != nil {
		t.Fatal(err)
	}
	var codes, rtl []string
	for _, l := range all {
		codes = append(codes, l.Code)
		if l.RTL {
			rtl = append(rtl, l.Code)
		}
	}
	want := "en ar ca cs de el es fa fr he hi hr is it nb nl pt-BR pt-PT ro ru sk sv tr uk zh-Hans zh-Hant"
	if got := strings.Join(codes, " "); got != want {
		t.Errorf("languages:\n got %s\nwant %s", got, want)
	}
	if got := strings.Join(rtl, " "); got != "ar fa he" {
		t.Errorf("right to left: %s", got)
	}
	in, err := newI18n(nil)
	if err != nil || len(in.langs) != 26 {
		t.Fatalf("offered %d languages, %v", len(in.langs), err)
	}
}

// TestPluralRules: each catalogue's Plural-Forms picks the right form for
// languages with more than two.
func TestPluralRules(t *testing.T) {
	in, err := newI18n(nil)
	if err != nil {
		t.Fatal(err)
	}
	pr := func(code string) printer {
		for i, l := range in.langs {
			if l.Code == code {
				return in.printer(i)
			}
		}
		t.Fatalf("no %s", code)
		return printer{}
	}
	for _, c := range []struct {
		code string
		n    int
		want string
	}{
		{"cs", 1, "znak."}, {"cs", 3, "znaky."}, {"cs", 5, "znaků."},
		{"ru", 21, "символа."}, {"ru", 3, "символов."}, {"ru", 11, "символов."},
		{"ar", 0, "حتى \u2068٠\u2069 حرف."}, {"ar", 2, "حرفين"}, {"ar", 5, "أحرف"}, {"ar", 11, "حرفًا"}, {"ar", 100, "حرف."},
		{"ro", 1, "caracter."}, {"ro", 5, "caractere."}, {"ro", 25, "de caractere."},
		{"zh-Hans", 5, "最多 \u20685\u2069 个字符。"},
	} {
		if got := pr(c.code).Sprintf("submit.message.hint", c.n); !strings.HasSuffix(got, c.want) && !strings.Contains(got, c.want) {
			t.Errorf("%s n=%d: %q, want %q", c.code, c.n, got, c.want)
		}
	}
}

// TestLanguagesDoc: docs/languages.md lists every catalogue with what its
// header says about translator and review.
func TestLanguagesDoc(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "languages.md"))
	if err != nil {
		t.Fatal(err)
	}
	all, err := AllLanguages()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range all {
		d := "ltr"
		if l.RTL {
			d = "rtl"
		}
		row := "| `" + l.Code + "` | " + l.Name + " | " + d + " | " + l.Translator + " | " + l.Review + " |"
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/languages.md lacks the row\n%s", row)
		}
	}
}
