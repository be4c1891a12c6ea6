package reply

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/text/encoding/htmlindex"

	"postern/mailbox/pgpmime"
)

// decodeText turns a text/plain body into UTF-8 with LF line ends, joining
// format=flowed lines (Thunderbird's default) back into paragraphs.
func decodeText(b []byte, params map[string]string) string {
	return pgpmime.NormalizeText(charsetToUTF8(b, params["charset"]), params)
}

// charsetToUTF8 decodes text in its declared charset; an unknown charset or
// invalid bytes give U+FFFD rather than an error, since a reply should not
// bounce over an odd charset.
func charsetToUTF8(b []byte, charset string) string {
	cs := strings.ToLower(strings.TrimSpace(charset))
	if cs != "" && cs != "utf-8" && cs != "utf8" && cs != "us-ascii" {
		if enc, err := htmlindex.Get(cs); err == nil {
			if out, err := enc.NewDecoder().Bytes(b); err == nil {
				b = out
			}
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// htmlToText draws plain text from an HTML-only reply. It is crude on
// purpose: the source reads replies as text in a page with no HTML of the
// journalist's, so only words and line breaks matter. Thunderbird's
// signature block (class "moz-signature") is left out, as the "-- "
// signature of plain text is.
func htmlToText(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var sb strings.Builder
	skip := 0
	sig := 0 // depth inside a signature element; 0 when outside
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return strings.TrimSpace(collapseBlankLines(sb.String()))
		case html.TextToken:
			if skip == 0 && sig == 0 {
				sb.WriteString(strings.Join(strings.Fields(string(z.Text())), " "))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			tag := string(name)
			if sig > 0 {
				if tt == html.StartTagToken && (tag == "div" || tag == "pre") {
					sig++
				}
				continue
			}
			if (tag == "div" || tag == "pre") && tt == html.StartTagToken && hasAttr && isSignature(z) {
				sig = 1
				continue
			}
			switch tag {
			case "script", "style", "head", "title":
				skip++
			case "br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "blockquote", "pre":
				sb.WriteByte('\n')
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			if sig > 0 {
				if tag == "div" || tag == "pre" {
					sig--
				}
				continue
			}
			switch tag {
			case "script", "style", "head", "title":
				if skip > 0 {
					skip--
				}
			case "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "blockquote", "pre":
				sb.WriteByte('\n')
			}
		}
	}
}

// isSignature reports whether the current tag has class moz-signature.
func isSignature(z *html.Tokenizer) bool {
	for {
		k, v, more := z.TagAttr()
		if string(k) == "class" && strings.Contains(string(v), "moz-signature") {
			return true
		}
		if !more {
			return false
		}
	}
}

func collapseBlankLines(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" {
			if blank++; blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
