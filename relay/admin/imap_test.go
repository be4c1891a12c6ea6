package admin

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"postern/mailbox/authn"
	imapd "postern/mailbox/imap"
	"postern/mailbox/kdf"
	"postern/mailbox/store"
)

// startIMAP serves st over IMAP on a loopback port until the test ends.
func startIMAP(t *testing.T, st *store.Store, pool *kdf.Pool) string {
	t.Helper()
	srv, err := imapd.New(imapd.Options{Store: st, Auth: &authn.Authenticator{Store: st, Pool: pool,
		Throttle: authn.NewThrottle(authn.ThrottleOptions{}), DummyParams: kdf.Params(testConfig().PasswordKDF)}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		<-serveErr
	})
	return ln.Addr().String()
}

// TestIdlingClientsAreTold: a journalist's client idling on INBOX hears the
// expunges of a source deletion and of a retention pass, as they happen.
func TestIdlingClientsAreTold(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "ana", "bob")
	gone, old := f.newSource(t), f.newSource(t)
	f.submit(t, old, "old one")
	f.clock.Add(100 * 24 * time.Hour)
	f.submit(t, gone, "first")
	f.submit(t, gone, "second")
	f.submit(t, old, "recent")
	addr := startIMAP(t, f.a.Store(), f.a.Pool())

	expunged := map[string]chan uint32{}
	idle := map[string]*imapclient.IdleCommand{}
	for _, j := range []string{"ana", "bob"} {
		ch := make(chan uint32, 16)
		expunged[j] = ch
		c, err := imapclient.DialInsecure(addr, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Expunge: func(seq uint32) { ch <- seq },
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login(j, f.pass[j]).Wait(); err != nil {
			t.Fatal(err)
		}
		if sel, err := c.Select("INBOX", nil).Wait(); err != nil || sel.NumMessages != 4 {
			t.Fatalf("select: %+v %v", sel, err)
		}
		cmd, err := c.Idle()
		if err != nil {
			t.Fatal(err)
		}
		idle[j] = cmd
	}
	recv := func(j string) uint32 {
		t.Helper()
		select {
		case seq := <-expunged[j]:
			return seq
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: no EXPUNGE while idling", j)
			return 0
		}
	}
	// Messages 2 and 3 are the deleted source's: EXPUNGE 3 then 2, or 2 then 2.
	if _, err := f.a.SourceDelete(ctx, gone.rec.Designation); err != nil {
		t.Fatal(err)
	}
	for _, j := range []string{"ana", "bob"} {
		a, b := recv(j), recv(j)
		if !(a == 3 && b == 2 || a == 2 && b == 2) {
			t.Fatalf("%s: EXPUNGE %d, %d after the source deletion", j, a, b)
		}
	}
	// Retention removes the 100-day-old message, number 1.
	if n, err := f.a.RunRetention(ctx); err != nil || n.Messages != 2 {
		t.Fatalf("retention: %+v %v", n, err)
	}
	for _, j := range []string{"ana", "bob"} {
		if seq := recv(j); seq != 1 {
			t.Fatalf("%s: EXPUNGE %d after retention, want 1", j, seq)
		}
	}
	for _, cmd := range idle {
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
