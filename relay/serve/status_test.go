package serve

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"postern/relay/admin"
	"postern/relay/config"
	"postern/relay/ctl"
)

// Repeated failed logins slow a journalist's logins down, and relay status (through the
// control socket of the running relay) says so.
func TestStatusShowsSlowedLogins(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "data")
	cfg := config.Default()
	cheap := config.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}
	cfg.SourceKDF, cfg.PasswordKDF = cheap, cheap
	cfg.DeliveryWindowMinutes = 0
	cfg.IntakeListen, cfg.IMAPListen, cfg.SMTPListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	a, err := admin.Init(dir, cfg, admin.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.JournalistAdd(ctx, "carol", journalistKey(t, 3, "carol")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	sctx, stop := context.WithCancel(ctx)
	started := make(chan Info, 1)
	done := make(chan error, 1)
	go func() { done <- Run(sctx, Options{Dir: dir, WithoutTor: true, Started: func(i Info) { started <- i }}) }()
	var info Info
	select {
	case info = <-started:
	case err := <-done:
		t.Fatal(err)
	}
	defer func() { stop(); <-done }()

	// Three failures cost nothing yet and slow every later attempt.
	for range 3 {
		c, err := imapclient.DialInsecure(info.IMAPAddr, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Login("carol", "not the passphrase").Wait(); err == nil {
			t.Fatal("a wrong passphrase was accepted")
		}
		c.Close()
	}
	cl, err := ctl.Dial(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(st.Warnings, "\n"), "journalist carol: 3 failed logins; each login attempt waits up to 1s") {
		t.Fatalf("status warnings lack the slowed name: %q", st.Warnings)
	}
}
