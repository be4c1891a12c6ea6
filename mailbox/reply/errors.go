package reply

import "errors"

// Refusals. Their text is what the journalist's mail client shows when the
// relay refuses a reply, so it says what to do, in the journalist's words.
// Callers branch with errors.Is and show the sentinel's own text, never a
// wrapped error's (which may carry parser details).
var (
	ErrNotToSource = errors.New("this reply is not encrypted to the source's key: " +
		"send it unencrypted, or import the source key attached to the submission")
	ErrUnsupportedEncryption = errors.New("this kind of encryption is not supported: " +
		"send the reply unencrypted, or encrypted with OpenPGP (PGP/MIME) to the source key attached to the submission")
	ErrMixedInline = errors.New("this reply mixes encrypted and unencrypted parts: " +
		"send it entirely unencrypted, or entirely encrypted (PGP/MIME)")
	ErrMalformed = errors.New("this reply could not be read as a mail message")
)

// Refusal reports whether err is one of the refusals above and returns it,
// so the caller can show its text and nothing else.
func Refusal(err error) (error, bool) {
	for _, r := range []error{ErrNotToSource, ErrUnsupportedEncryption, ErrMixedInline, ErrMalformed} {
		if errors.Is(err, r) {
			return r, true
		}
	}
	return nil, false
}
