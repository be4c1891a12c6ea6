package imapd

import (
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"

	"postern/mailbox/store"
)

// Keywords (RFC 3501 7.2.6): FLAGS lists the flags in use in the mailbox,
// keywords included (Thunderbird's $label1..5, $Forwarded, Junk), and a new
// one is announced with an untagged FLAGS before the client sees it on a
// message, as Dovecot does. PERMANENTFLAGS keeps "\*": any keyword may be
// made. A box's list only grows while it is open (a keyword no message
// carries any more stays defined, as in Dovecot's index).

// noteKeywordsLocked adds the keywords of msgs to the box's list and
// reports whether there were new ones. b.mu held.
func (b *box) noteKeywordsLocked(msgs []store.Message) bool {
	added := false
	for _, m := range msgs {
		for _, f := range m.Flags {
			if strings.HasPrefix(f, `\`) {
				continue
			}
			if i, found := slices.BinarySearch(b.keywords, f); !found {
				b.keywords = slices.Insert(b.keywords, i, f)
				added = true
			}
		}
	}
	return added
}

// flagsLocked are the box's FLAGS and PERMANENTFLAGS. b.mu held.
func (b *box) flagsLocked() (flags, permanent []imap.Flag) {
	flags = slices.Clip(slices.Clone(systemFlags))
	for _, k := range b.keywords {
		flags = append(flags, imap.Flag(k))
	}
	permanent = append(slices.Clone(flags), imap.FlagWildcard)
	return flags, permanent
}
