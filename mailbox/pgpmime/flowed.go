package pgpmime

import "strings"

// NormalizeText gives the text of a part LF line endings and, for
// format=flowed (RFC 3676, Thunderbird's default for plain text), joins
// the soft-broken lines back into paragraphs so a web page can wrap them.
// params are the part's Content-Type parameters.
func NormalizeText(s string, params map[string]string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	if !strings.EqualFold(params["format"], "flowed") {
		return s
	}
	delsp := strings.EqualFold(params["delsp"], "yes")
	var out strings.Builder
	prevFlowed, prevDepth := false, 0
	for i, line := range strings.Split(s, "\n") {
		depth := 0
		for depth < len(line) && line[depth] == '>' {
			depth++
		}
		quote, body := line[:depth], line[depth:]
		body = strings.TrimPrefix(body, " ") // space-stuffing
		if i > 0 {
			if prevFlowed && depth == prevDepth {
				quote = "" // continue the previous line
			} else {
				out.WriteByte('\n')
			}
		}
		flowed := strings.HasSuffix(body, " ") && body != "-- "
		if flowed && delsp {
			body = body[:len(body)-1]
		}
		if quote != "" {
			out.WriteString(quote + " ")
		}
		out.WriteString(body)
		prevFlowed, prevDepth = flowed, depth
	}
	return out.String()
}
