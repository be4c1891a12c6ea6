package web

import (
	"net/url"
	"sync"
	"testing"
	"time"

	"postern/mailbox/kdf"
)

// A form answered "busy" (the derivation pool full) can be sent again: its
// token is given back, so the source is not told its form expired, and a
// flood answered "busy" takes no room in the record of spent tokens (whose
// bound would otherwise soon refuse every form older than a minute or two).
// The token is still acted on once only.
func TestBusyFormTokenIsNotSpent(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Pool = kdf.NewPool(kdf.PoolOptions{Workers: 1, Queue: -1, Wait: time.Minute})
		o.KDF = kdf.Params{Time: 3, MemoryKiB: 32 * 1024, Threads: 1}
	})
	busyTok := ""
	for round := 0; round < 5 && busyTok == ""; round++ {
		const n = 8
		toks := make([]string, n)
		for i := range toks {
			toks[i] = csrfOf(t, e.browser().get("/"))
		}
		pages := make([]page, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { pages[i] = e.browser().post("/new", url.Values{"csrf": {toks[i]}}) })
		}
		wg.Wait()
		for i, p := range pages {
			if p.status == 503 {
				busyTok = toks[i]
			}
		}
	}
	if busyTok == "" {
		t.Fatal("five floods of 8 never met a busy pool")
	}
	want(t, e.browser().post("/new", url.Values{"csrf": {busyTok}}), 200, "codename")
	want(t, e.browser().post("/new", url.Values{"csrf": {busyTok}}), 403, "This form has expired")
}
