package selftest

import (
	"crypto/subtle"
	"net/http"
	"regexp"
	"time"

	"postern/mailbox/delivery"
	"postern/mailbox/store"
)

// canaryTTL bounds how long a canary stays when no check removes it (the
// IMAP side was down): the relay removes it itself, so a failed selftest
// leaves nothing behind either.
const canaryTTL = time.Minute

// maxCanaryBody bounds the canary's form post.
const maxCanaryBody = 4 << 10

var nonceRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Handler wraps the intake form: a POST to Path with the right token and a
// nonce delivers a canary holding the nonce and answers 204; anything else
// goes to next, so without the token the path is as unknown as any other.
// It logs nothing and counts nothing: a canary is no source's action.
func Handler(next http.Handler, dataDir string, d *delivery.Deliverer, st *store.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != Path || r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxCanaryBody)
		token, nonce := r.PostFormValue("token"), r.PostFormValue("nonce")
		sec, key, err := Load(dataDir)
		if err != nil || subtle.ConstantTimeCompare([]byte(token), []byte(sec.Token())) != 1 || !nonceRE.MatchString(nonce) {
			next.ServeHTTP(w, r)
			return
		}
		tx, err := d.StartCanary(r.Context(), Account, key)
		if err == nil {
			err = tx.Text("postern selftest canary " + nonce + "\n")
		}
		if err == nil {
			err = tx.Commit(r.Context())
		}
		if err != nil {
			if tx != nil {
				tx.Abort()
			}
			http.Error(w, "selftest: delivery failed", http.StatusServiceUnavailable)
			return
		}
		if mb, err := st.Mailbox(Account, "INBOX"); err == nil {
			upTo := mb.UIDNext - 1
			time.AfterFunc(canaryTTL, func() { _ = clearInbox(st, upTo) })
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
