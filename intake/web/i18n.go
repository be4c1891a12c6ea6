package web

import (
	"fmt"
	"net/http"
	"sort"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// translation is one language's table of messages, keyed like english.
type translation struct {
	tag      language.Tag
	messages map[string]string
}

// translations lists every language the form speaks, English first: the
// first is the fallback for a key missing elsewhere and for a browser that
// asks for a language we do not have. Adding a language is adding a table
// here; templates never change.
func translations() []translation {
	return []translation{
		{language.English, english},
		{language.French, french},
	}
}

// i18n picks the language of a request and prints its messages.
type i18n struct {
	cat     catalog.Catalog
	tags    []language.Tag
	codes   []string // base codes for ?l= and /metadata, in tags order
	names   []string // each language's own name, in tags order
	matcher language.Matcher
}

// newI18n builds the catalogue for the languages the admin enabled (base codes
// such as "en", "fr"; the first is the default). Empty enables every
// translation we have.
func newI18n(enabled []string) (*i18n, error) {
	ts := translations()
	if len(enabled) > 0 {
		var picked []translation
		for _, code := range enabled {
			found := false
			for _, t := range ts {
				if base, _ := t.tag.Base(); base.String() == code {
					picked, found = append(picked, t), true
				}
			}
			if !found {
				return nil, fmt.Errorf("web: i18n: no translation for language %q", code)
			}
		}
		ts = picked
	}
	b := catalog.NewBuilder(catalog.Fallback(ts[0].tag))
	in := &i18n{cat: b}
	for _, t := range ts {
		keys := make([]string, 0, len(t.messages))
		for k := range t.messages {
			if _, ok := english[k]; !ok {
				return nil, fmt.Errorf("web: i18n: %s has key %q that English lacks", t.tag, k)
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := b.SetString(t.tag, k, t.messages[k]); err != nil {
				return nil, fmt.Errorf("web: i18n: %s %q: %w", t.tag, k, err)
			}
		}
		base, _ := t.tag.Base()
		in.tags = append(in.tags, t.tag)
		in.codes = append(in.codes, base.String())
		in.names = append(in.names, t.messages["lang.name"])
	}
	in.matcher = language.NewMatcher(in.tags)
	return in, nil
}

// pick returns the index of the language for r: an explicit ?l= first (so a
// source can switch without any cookie), then Accept-Language. explicit says
// whether ?l= chose it, in which case links carry it on.
func (in *i18n) pick(r *http.Request) (idx int, explicit bool) {
	if l := r.URL.Query().Get("l"); l != "" {
		for i, c := range in.codes {
			if c == l {
				return i, true
			}
		}
	}
	al := r.Header.Get("Accept-Language")
	if len(al) > 256 { // parsing is linear, but an absurd header deserves English
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

func (in *i18n) printer(idx int) *message.Printer {
	return message.NewPrinter(in.tags[idx], message.Catalog(in.cat))
}
