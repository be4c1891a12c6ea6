package web

import (
	"embed"
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"
	"strings"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// The translations are gettext catalogues, one locales/<tag>.po a language,
// embedded in the binary and read with github.com/leonelquinteros/gotext.
// Each entry's msgctxt is the key the code uses, its msgid the English
// text (messages_en.go), so translators work in Weblate or Poedit with
// the English beside their own; locales/postern.pot is generated from the
// code by `make pot`. English itself is the code's text, not a catalogue.

//go:embed locales/*.po
var localeFS embed.FS

// Catalogue header fields every translation must carry, so that an admin
// and a source's newsroom know who wrote it and whether a native speaker
// checked it (relay status and docs/languages.md list them).
const (
	headerTranslator = "X-Postern-Translator"
	headerReview     = "X-Postern-Review"
)

// Language is one language the form can speak, and the state of its
// catalogue.
type Language struct {
	Code string // BCP 47 tag, also the ?l= value and the catalogue name: "fr", "pt-BR", "zh-Hans"
	Name string // the language's name in itself
	RTL  bool   // written right to left
	// Translator and Review come from the catalogue header; English, the
	// source text, has "Postern developers" and "source text".
	Translator, Review string
	// Problems lists what keeps the catalogue from being served (missing
	// or fuzzy strings, placeholders that differ from English, a broken
	// header). A language with problems is never offered.
	Problems []string

	tag language.Tag
	cat *catalogue // nil for English
}

// Complete reports whether the language may be offered.
func (l *Language) Complete() bool { return len(l.Problems) == 0 }

// Status is the line relay status and docs/languages.md show.
func (l *Language) Status() string {
	if !l.Complete() {
		return fmt.Sprintf("incomplete, not offered (%d problems, first: %s)", len(l.Problems), l.Problems[0])
	}
	return l.Translator + "; " + l.Review
}

// AllLanguages reads every catalogue the binary carries, English first then
// by code, each with its completeness checked. It fails only when a
// catalogue cannot be read at all (a build defect).
func AllLanguages() ([]*Language, error) {
	en := &Language{Code: "en", Name: english["lang.name"], tag: language.English,
		Translator: "Postern developers", Review: "source text"}
	out := []*Language{en}
	names, err := localeFS.ReadDir("locales")
	if err != nil {
		return nil, fmt.Errorf("web: i18n: %w", err)
	}
	for _, e := range names {
		code, ok := strings.CutSuffix(e.Name(), ".po")
		if !ok {
			continue
		}
		b, err := localeFS.ReadFile(path.Join("locales", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("web: i18n: %w", err)
		}
		l, err := loadLanguage(code, b)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	sort.Slice(out[1:], func(i, j int) bool { return out[1+i].Code < out[1+j].Code })
	return out, nil
}

func loadLanguage(code string, po []byte) (*Language, error) {
	tag, err := language.Parse(code)
	if err != nil || tag.String() != code {
		return nil, fmt.Errorf("web: i18n: catalogue name %q is not a canonical language tag", code)
	}
	cat := parseCatalogue(po)
	l := &Language{Code: code, tag: tag, cat: cat, RTL: isRTL(tag),
		Translator: cat.header(headerTranslator), Review: cat.header(headerReview)}
	l.Name = cat.text("lang.name")
	l.Problems = cat.check()
	if l.Translator == "" || l.Review == "" {
		l.Problems = append(l.Problems, "header lacks "+headerTranslator+" or "+headerReview)
	}
	if lh := cat.header("Language"); lh != strings.ReplaceAll(code, "-", "_") && lh != code {
		l.Problems = append(l.Problems, fmt.Sprintf("header Language %q is not %q", lh, code))
	}
	return l, nil
}

// isRTL reports whether tag's script is written right to left.
func isRTL(tag language.Tag) bool {
	s, _ := tag.Script()
	switch s.String() {
	case "Arab", "Hebr", "Thaa", "Syrc", "Nkoo", "Adlm", "Rohg", "Mand", "Samr":
		return true
	}
	return false
}

// i18n is the set of languages offered, and picks one for a request.
type i18n struct {
	langs   []*Language // offered, the first being the default
	codes   []string    // their codes, for ?l= and /metadata
	matcher language.Matcher
}

// newI18n offers the complete languages among enabled (tags such as "en",
// "pt-BR"; the first is the default). Empty offers every complete one,
// English first. Asking for a language the binary does not have is an
// error; asking for one whose catalogue is incomplete is not (an upgrade
// must not stop the relay), it is just not offered: relay status says so.
func newI18n(enabled []string) (*i18n, error) {
	all, err := AllLanguages()
	if err != nil {
		return nil, err
	}
	in := &i18n{}
	if err := in.offer(all, enabled); err != nil {
		return nil, err
	}
	return in, nil
}

// offer fills in with the complete languages among enabled.
func (in *i18n) offer(all []*Language, enabled []string) error {
	picked := all
	if len(enabled) > 0 {
		picked = nil
		for _, code := range enabled {
			l := findLanguage(all, code)
			if l == nil {
				return fmt.Errorf("web: i18n: no translation for language %q", code)
			}
			picked = append(picked, l)
		}
	}
	var tags []language.Tag
	for _, l := range picked {
		if !l.Complete() {
			continue
		}
		in.langs = append(in.langs, l)
		in.codes = append(in.codes, l.Code)
		tags = append(tags, l.tag)
	}
	if len(in.langs) == 0 {
		return fmt.Errorf("web: i18n: none of the languages %v has a complete catalogue", enabled)
	}
	in.matcher = language.NewMatcher(tags)
	return nil
}

// findLanguage finds code among langs, ignoring case ("pt-br" is "pt-BR").
func findLanguage(langs []*Language, code string) *Language {
	for _, l := range langs {
		if strings.EqualFold(l.Code, code) {
			return l
		}
	}
	return nil
}

// pick returns the index of the language for r: an explicit ?l= first (so a
// source can switch without any cookie), then Accept-Language, which is
// only read here: never stored or logged. explicit says whether ?l= chose
// it, in which case links carry it on.
func (in *i18n) pick(r *http.Request) (idx int, explicit bool) {
	if l := r.URL.Query().Get("l"); l != "" {
		for i, c := range in.codes {
			if c == l {
				return i, true
			}
		}
	}
	al := r.Header.Get("Accept-Language")
	if len(al) > 256 { // parsing is linear, but an absurd header deserves the default
		return 0, false
	}
	tags, _, err := language.ParseAcceptLanguage(al)
	if err != nil || len(tags) == 0 {
		return 0, false
	}
	_, i, conf := in.matcher.Match(tags...)
	if conf == language.No {
		return 0, false
	}
	return i, false
}

// printer returns the translator of language idx.
func (in *i18n) printer(idx int) printer {
	l := in.langs[idx]
	return printer{l.cat, message.NewPrinter(l.tag)}
}

// printer translates keys into one language (cat nil: English) and
// formats numbers the language's way (1,000 or 1 000).
type printer struct {
	cat *catalogue
	num *message.Printer
}

// format returns the format string of key for args: the plural form of the
// catalogue's Plural-Forms rule for the first argument when key is a
// plural message. An unknown key is returned as is, which a test catches.
func (p printer) format(key string, args []any) string {
	if forms, ok := englishPlural[key]; ok {
		n := 0
		if len(args) > 0 {
			n = toInt(args[0])
		}
		if p.cat == nil {
			if n == 1 {
				return forms[0]
			}
			return forms[1]
		}
		return p.cat.plural(key, n)
	}
	if p.cat == nil {
		if s, ok := english[key]; ok {
			return s
		}
		return key
	}
	return p.cat.text(key)
}

// Sprintf translates key and formats args into it. Each argument is
// wrapped in Unicode isolates (FSI … PDI), the plain-text form of <bdi>:
// a file name or a number inside right-to-left text (or Arabic in English)
// keeps its own direction and does not scramble the sentence around it.
func (p printer) Sprintf(key string, args ...any) string {
	f := p.format(key, args)
	if len(args) == 0 {
		return strings.ReplaceAll(f, "%%", "%")
	}
	iso := make([]any, len(args))
	for i, a := range args {
		iso[i] = isolated{a, p.num}
	}
	return fmt.Sprintf(f, iso...)
}

// isolated formats its value with the verb it is given, in the language's
// number format, between FSI and PDI.
type isolated struct {
	v   any
	num *message.Printer
}

func (i isolated) Format(f fmt.State, verb rune) {
	io.WriteString(f, "\u2068"+i.num.Sprintf(fmt.FormatString(f, verb), i.v)+"\u2069")
}

func toInt(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	case int32:
		return int(n)
	case uint:
		return int(n)
	case uint64:
		return int(n)
	}
	return 0
}
