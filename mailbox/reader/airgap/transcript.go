package airgap

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
)

// css is the transcript's only style; the CSP allows exactly this block (by
// its hash) and nothing else: no script, no image, no font, no request.
const css = `body{font:16px/1.5 sans-serif;max-width:46em;margin:1em auto;padding:0 1em;color:#111}
article{border-left:4px solid #888;padding:.2em 1em;margin:1.2em 0}
article.newsroom{border-color:#2a6;background:#f4fbf6}
h2{font-size:1em;margin:.3em 0}pre{white-space:pre-wrap;font:inherit}
.meta{color:#555;font-size:.9em}ul{padding-left:1.2em}`

func cspValue() string {
	sum := sha256.Sum256([]byte(css))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

var page = template.Must(template.New("t").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<meta name="referrer" content="no-referrer">
<title>Conversation with {{.T.Designation}}</title>
<style>{{.CSS}}</style></head>
<body><h1>Conversation with {{.T.Designation}}</h1>
<p class="meta">Source address {{.T.Address}}. Dates are days (UTC): the relay keeps no finer time.
Files are in <code>files/</code> as sent; cleaned copies in <code>safe/</code> (see safe/STATUS.txt).</p>
{{range .Entries}}<article class="{{.Role}}">
<h2>{{.Day}} · {{if eq .Role "source"}}source ({{$.T.Designation}}){{else}}newsroom{{if .Outbox}} (written offline, waiting in the outbox){{end}}{{end}}</h2>
<p class="meta">{{.Subject}}</p>
<pre>{{.Text}}</pre>
{{if .Files}}<ul>{{range .Files}}<li>{{.Name}} ({{.Size}} bytes{{if eq .Status "cleaned"}}; cleaned copy in safe/{{else if .Status}}; not cleaned: {{.Status}}{{end}})</li>{{end}}</ul>{{end}}
</article>
{{end}}</body></html>
`))

// render rewrites the thread's conversation.html, conversation.txt and
// safe/STATUS.txt.
func (t *Thread) render(out string) error {
	dir := filepath.Join(out, t.Folder)
	es := t.ordered()
	var h bytes.Buffer
	if err := page.Execute(&h, struct {
		CSP     string
		CSS     template.CSS
		T       *Thread
		Entries []Entry
	}{cspValue(), template.CSS(css), t, es}); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(dir, "conversation.html"), h.Bytes()); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Conversation with %s <%s>\nDates are days (UTC).\n", t.Designation, t.Address)
	for _, e := range es {
		who := "source (" + t.Designation + ")"
		if e.Role == RoleNewsroom {
			who = "newsroom"
			if e.Outbox {
				who += " (written offline, waiting in the outbox)"
			}
		}
		fmt.Fprintf(&b, "\n==== %s · %s\nSubject: %s\n\n%s\n", e.Day, who, e.Subject, strings.TrimRight(e.Text, "\n"))
		for _, f := range e.Files {
			fmt.Fprintf(&b, "[file] files/%s (%d bytes) %s\n", f.Name, f.Size, statusText(f))
		}
	}
	if err := writeAtomic(filepath.Join(dir, "conversation.txt"), []byte(b.String())); err != nil {
		return err
	}
	var s strings.Builder
	s.WriteString("Cleaned copies (mat2 in a sandbox with no network). The originals in files/ are untouched.\n\n")
	for _, e := range es {
		for _, f := range e.Files {
			fmt.Fprintf(&s, "%s: %s\n", f.Name, statusText(f))
		}
	}
	return writeAtomic(filepath.Join(dir, "safe", "STATUS.txt"), []byte(s.String()))
}

func statusText(f File) string {
	switch f.Status {
	case "cleaned":
		return "cleaned (safe/" + f.Name + ")"
	case "":
		return "not cleaned yet"
	}
	return "not cleaned: " + f.Status
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
