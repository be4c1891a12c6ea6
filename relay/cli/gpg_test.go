package cli_test

import (
	"strings"
	"testing"

	"postern/mailbox/pgp/pgptest"
)

// A key as an admin would get it from a journalist: made and exported by
// gpg, piped into the relay. A secret key export is refused.
func TestJournalistKeyFromGPG(t *testing.T) {
	g := pgptest.NewGPG(t)
	fpr := g.GenKey("Jane <jane@example.org>", "future-default", "default", "never")
	pub := g.Run(nil, "--export", "--armor", fpr)
	dir := newInstance(t)
	out := mustRelay(t, pub, "journalist", "add", "jane", "--key", "-", "--data", dir)
	if !strings.Contains(out, fpr) {
		t.Fatalf("fingerprint %s not in %q", fpr, out)
	}
	sec := g.Run(nil, "--export-secret-keys", fpr)
	r := relay(t, sec, "journalist", "set-key", "jane", "--key", "-", "--data", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "secret key") {
		t.Fatalf("secret key: %+v", r)
	}
}
