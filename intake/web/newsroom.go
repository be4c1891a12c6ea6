package web

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// NewsroomText is the newsroom's own words in one language: its name and
// an optional paragraph for the landing page. Both are plain text: the
// pages escape them, so markup shows as typed.
type NewsroomText struct {
	Name  string
	Intro string
}

// maxNewsroomText bounds one value; a paragraph, not a page.
const maxNewsroomText = 2000

// ParseNewsroom reads the file an admin edits to give the newsroom's name
// and an intro paragraph per language (postern.conf newsroom_text_file):
//
//	# comments and blank lines are ignored
//	[fr]
//	name = Le Quotidien
//	intro = Nos journalistes lisent tout ce que vous envoyez.
//
// A section is a language tag of this binary; a value is one line of
// plain text. Unknown tags and keys, control characters and over-long
// values are errors that name the line (the file is the admin's, not a
// source's).
func ParseNewsroom(r io.Reader) (map[string]NewsroomText, error) {
	all, err := AllLanguages()
	if err != nil {
		return nil, err
	}
	out := map[string]NewsroomText{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	lang := ""
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !utf8.ValidString(line) {
			return nil, fmt.Errorf("newsroom text line %d: not UTF-8", n)
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			l := findLanguage(all, strings.TrimSpace(line[1:len(line)-1]))
			if l == nil {
				return nil, fmt.Errorf("newsroom text line %d: %s is not a language of the form", n, line)
			}
			lang = l.Code
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("newsroom text line %d: want [language], name = … or intro = …", n)
		}
		if lang == "" {
			return nil, fmt.Errorf("newsroom text line %d: %s before any [language]", n, strings.TrimSpace(k))
		}
		v = strings.TrimSpace(v)
		if len(v) > maxNewsroomText || strings.ContainsFunc(v, unicode.IsControl) {
			return nil, fmt.Errorf("newsroom text line %d: a value is one line of at most %d bytes of text", n, maxNewsroomText)
		}
		t := out[lang]
		switch strings.TrimSpace(k) {
		case "name":
			t.Name = v
		case "intro":
			t.Intro = v
		default:
			return nil, fmt.Errorf("newsroom text line %d: unknown key %q (name or intro)", n, strings.TrimSpace(k))
		}
		out[lang] = t
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("newsroom text: %w", err)
	}
	return out, nil
}
