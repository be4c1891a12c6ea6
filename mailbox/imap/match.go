package imapd

import "strings"

// matchList reports whether a mailbox name matches a LIST reference and
// pattern (RFC 3501 6.3.8: "*" matches anything, "%" anything but the
// hierarchy delimiter). It has the semantics of go-imap's
// imapserver.MatchList, which backtracks exponentially in the number of
// wildcards: a dozen of them pinned a core for seconds (found by the hostile
// catalogue). This one is a dynamic programme over name and pattern,
// O(len(name)·len(pattern)).
func matchList(name, reference, pattern string) bool {
	const d = string(delim)
	if strings.HasPrefix(pattern, d) {
		reference, pattern = "", strings.TrimPrefix(pattern, d)
	}
	if reference != "" {
		if !strings.HasSuffix(reference, d) {
			reference += d
		}
		var ok bool
		if name, ok = strings.CutPrefix(name, reference); !ok {
			return false
		}
	}
	// prev[i]: pattern[:j] matches name[:i], for the previous j.
	prev := make([]bool, len(name)+1)
	cur := make([]bool, len(name)+1)
	prev[0] = true
	for j := 0; j < len(pattern); j++ {
		c := pattern[j]
		switch c {
		case '*', '%':
			// cur[i] = prev[i] (empty) or cur[i-1] extended by name[i-1].
			cur[0] = prev[0]
			for i := 1; i <= len(name); i++ {
				cur[i] = prev[i] || (cur[i-1] && (c == '*' || name[i-1] != delim))
			}
		default:
			cur[0] = false
			for i := 1; i <= len(name); i++ {
				cur[i] = prev[i-1] && name[i-1] == c
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(name)]
}
