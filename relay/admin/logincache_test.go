package admin

import (
	"context"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
)

// TestPasswdAndRemoveEndCachedLogins: logins the running relay remembers
// (so that clients skip argon2id when they log in again) stop working the
// moment `journalist passwd` or `journalist remove` returns.
func TestPasswdAndRemoveEndCachedLogins(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "ana", "bob")
	addr := startIMAP(t, f.a.Store(), f.a.Pool())
	login := func(name, pass string) error {
		c, err := imapclient.DialInsecure(addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.Login(name, pass).Wait()
	}
	for range 3 { // the second and third are answered from the cache
		for _, j := range []string{"ana", "bob"} {
			if err := login(j, f.pass[j]); err != nil {
				t.Fatalf("login %s: %v", j, err)
			}
		}
	}
	np, err := f.a.JournalistPasswd(ctx, "ana")
	if err != nil {
		t.Fatal(err)
	}
	if err := login("ana", f.pass["ana"]); err == nil {
		t.Error("the old passphrase still logs in after passwd")
	}
	if err := login("ana", np.Passphrase); err != nil {
		t.Errorf("the new passphrase: %v", err)
	}
	if err := f.a.JournalistRemove(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := login("bob", f.pass["bob"]); err == nil {
		t.Error("a removed journalist still logs in")
	}
}
