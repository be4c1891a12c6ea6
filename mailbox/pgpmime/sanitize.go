package pgpmime

import (
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxFilenameBytes keeps a name short enough that its RFC 2231 encoding
// (up to three characters a byte) fits in one header line under 998.
const maxFilenameBytes = 120

// SanitizeFilename makes an untrusted file name safe to show and to save:
// the last path element only; no control or bidi-override characters (they
// spoof extensions), no quotes or characters Windows refuses; no leading
// dots (hidden files, ".."); at most 120 bytes of UTF-8, keeping the
// extension. Unicode letters are kept. An empty result becomes "file".
func SanitizeFilename(name string) string {
	name = strings.ToValidUTF8(name, "")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), r == utf8.RuneError:
			return -1
		case strings.ContainsRune(`"'<>:|?*`+"`", r):
			return '_'
		case unicode.IsSpace(r):
			return ' '
		}
		return r
	}, name)
	name = strings.Join(strings.Fields(name), " ")
	name = strings.TrimLeft(name, ". ")
	name = strings.TrimRight(name, ". ")
	if len(name) > maxFilenameBytes {
		ext := ""
		if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 16 {
			ext = name[i:]
		}
		base := truncateUTF8(name[:len(name)-len(ext)], maxFilenameBytes-len(ext))
		// Cutting may expose a space or dot; trim again so the result is
		// stable under a second pass.
		name = strings.TrimLeft(strings.TrimRight(base, ". ")+ext, ". ")
	}
	if name == "" {
		return "file"
	}
	return name
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// safeMediaType reduces a claimed content type to a bare media type, and
// refuses container types (multipart/*, message/*) that would change how
// the mail itself is parsed.
func safeMediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt == "" {
		return "application/octet-stream"
	}
	mt = strings.ToLower(mt)
	if strings.HasPrefix(mt, "multipart/") || strings.HasPrefix(mt, "message/") || len(mt) > 100 {
		return "application/octet-stream"
	}
	return mt
}
