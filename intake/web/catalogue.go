package web

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/leonelquinteros/gotext"
	"github.com/leonelquinteros/gotext/plurals"
)

// catalogue is one parsed .po file. gotext is a maintained gettext reader
// (PO and MO, Plural-Forms expressions); the checks of completeness that
// decide whether a language is served are ours.
type catalogue struct {
	po      *gotext.Po
	nplural int
	fuzzy   map[string]bool // msgctxt of entries flagged fuzzy
}

func parseCatalogue(b []byte) *catalogue {
	po := gotext.NewPo()
	po.Parse(b)
	c := &catalogue{po: po, fuzzy: fuzzyEntries(b)}
	for _, f := range strings.Split(po.GetDomain().PluralForms, ";") {
		if k, v, ok := strings.Cut(f, "="); ok && strings.TrimSpace(k) == "nplurals" {
			fmt.Sscan(strings.TrimSpace(v), &c.nplural)
		}
	}
	return c
}

// fuzzyEntries finds the msgctxt of every entry flagged "#, fuzzy": gotext
// reads fuzzy entries like any other, but a guess is not a translation.
func fuzzyEntries(b []byte) map[string]bool {
	out := map[string]bool{}
	fuzzy := false
	for _, line := range bytes.Split(b, []byte("\n")) {
		l := string(bytes.TrimSpace(line))
		switch {
		case strings.HasPrefix(l, "#,") && strings.Contains(l, "fuzzy"):
			fuzzy = true
		case strings.HasPrefix(l, "msgctxt "):
			if fuzzy {
				out[strings.Trim(strings.TrimPrefix(l, "msgctxt "), `"`)] = true
			}
			fuzzy = false
		case l == "":
			fuzzy = false
		}
	}
	return out
}

func (c *catalogue) header(name string) string { return c.po.GetDomain().Headers.Get(name) }

// text is the translation of a singular message.
func (c *catalogue) text(key string) string { return c.po.GetC(english[key], key) }

// plural is the form of a plural message for n, chosen by Plural-Forms.
func (c *catalogue) plural(key string, n int) string {
	f := englishPlural[key]
	return c.po.GetNC(f[0], f[1], n, key)
}

// check lists every reason not to serve the catalogue: a message of the
// code it lacks, leaves empty, marks fuzzy or translates with other
// placeholders than English, and a Plural-Forms header it cannot use.
func (c *catalogue) check() []string {
	var problems []string
	if c.nplural < 1 {
		problems = append(problems, "no usable Plural-Forms header")
	} else if _, err := plurals.Compile(pluralExpr(c.po.GetDomain().PluralForms)); err != nil {
		problems = append(problems, "Plural-Forms: "+err.Error())
	}
	ctx := c.po.GetDomain().GetCtxTranslations()
	entry := func(key, msgid string) *gotext.Translation {
		if c.fuzzy[key] {
			problems = append(problems, key+": fuzzy")
			return nil
		}
		tr := ctx[key][msgid]
		if tr == nil {
			problems = append(problems, key+": missing")
		}
		return tr
	}
	for _, key := range sortedKeys(english) {
		tr := entry(key, english[key])
		if tr == nil {
			continue
		}
		if s := tr.Trs[0]; s == "" {
			problems = append(problems, key+": empty")
		} else if !samePlaceholders(english[key], s) {
			problems = append(problems, key+": placeholders differ from English")
		}
	}
	for _, key := range sortedKeys(englishPlural) {
		f := englishPlural[key]
		tr := entry(key, f[0])
		if tr == nil {
			continue
		}
		if tr.PluralID != f[1] {
			problems = append(problems, key+": msgid_plural differs from English")
		}
		for i := range max(c.nplural, 1) {
			s := tr.Trs[i]
			if s == "" {
				problems = append(problems, fmt.Sprintf("%s: plural form %d empty", key, i))
			} else if !samePlaceholders(f[1], s) {
				problems = append(problems, fmt.Sprintf("%s: plural form %d: placeholders differ from English", key, i))
			}
		}
	}
	return problems
}

func pluralExpr(header string) string {
	for _, f := range strings.Split(header, ";") {
		if k, v, ok := strings.Cut(f, "="); ok && strings.TrimSpace(k) == "plural" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var verbRE = regexp.MustCompile(`%(\[(\d+)\])?[-+# 0]*\d*(\.\d+)?([a-zA-Z%])`)

// placeholders lists the fmt verbs of a format as "argument:verb", sorted,
// so that a translation may reorder them with explicit indexes (%[2]s).
func placeholders(format string) []string {
	var out []string
	next := 1
	for _, m := range verbRE.FindAllStringSubmatch(format, -1) {
		if m[4] == "%" {
			continue
		}
		arg := next
		if m[2] != "" {
			fmt.Sscan(m[2], &arg)
		}
		out = append(out, fmt.Sprintf("%d:%s", arg, m[4]))
		next = arg + 1
	}
	sort.Strings(out)
	return out
}

func samePlaceholders(a, b string) bool { return slices.Equal(placeholders(a), placeholders(b)) }
