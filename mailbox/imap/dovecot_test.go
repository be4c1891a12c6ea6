package imapd

import (
	"testing"

	"postern/tools/dovecot"
)

// TestClientSuiteDovecot runs the same client suite against Debian's
// Dovecot, which keeps the suite honest: what it expects of us, a
// reference server does too.
func TestClientSuiteDovecot(t *testing.T) {
	bin := needTool(t, "dovecot") // first: -short must not hide a missing Dovecot under CI
	if testing.Short() {
		t.Skip("short")
	}
	dv := startDovecot(t, bin)
	runClientSuite(t, target{Addr: dv.Addr, User: "alice", Password: dovecot.Password})
}

// startDovecot runs a throwaway Dovecot (tools/dovecot) for the test.
func startDovecot(t testing.TB, bin string) *dovecot.Server {
	t.Helper()
	s, err := dovecot.Start(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}
