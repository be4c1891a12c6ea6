package authn

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"postern/mailbox/kdf"
	"postern/mailbox/store"
)

// countingKDF counts the argon2id verifications an Authenticator asks for.
type countingKDF struct {
	KDF
	verifies atomic.Int64
}

func (c *countingKDF) VerifyPassword(ctx context.Context, pass, stored string) (bool, error) {
	c.verifies.Add(1)
	return c.KDF.VerifyPassword(ctx, pass, stored)
}

func countKDF(a *Authenticator) *countingKDF {
	c := &countingKDF{KDF: a.Pool}
	a.Pool = c
	return c
}

// TestCachedLoginSkipsKDF: a second login with the same passphrase costs no
// argon2id, and a wrong passphrase is never answered from the cache.
func TestCachedLoginSkipsKDF(t *testing.T) {
	a, _ := newAuth(t)
	k := countKDF(a)
	ctx := context.Background()
	for i := range 5 {
		if j, err := a.Login(ctx, "alice", "right passphrase"); err != nil || j.Name != "alice" {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	if n := k.verifies.Load(); n != 1 {
		t.Fatalf("%d argon2id verifications for 5 logins, want 1", n)
	}
	for _, wrong := range []string{"wrong", "right passphrase ", "Right passphrase", ""} {
		if _, err := a.Login(ctx, "alice", wrong); !errors.Is(err, ErrFailed) {
			t.Fatalf("%q after a cached login: %v", wrong, err)
		}
	}
	if n := k.verifies.Load(); n != 5 {
		t.Fatalf("%d verifications, want 1 + one per wrong passphrase (4)", n)
	}
	if _, err := a.Login(ctx, "nobody", "right passphrase"); !errors.Is(err, ErrFailed) {
		t.Fatalf("the cached passphrase opened another name: %v", err)
	}
}

// TestCacheDroppedOnPasswdAndRemove: a new hash in the store (relay
// journalist passwd) and a removal drop the cached logins of the name.
func TestCacheDroppedOnPasswdAndRemove(t *testing.T) {
	a, st := newAuth(t)
	k := countKDF(a)
	ctx := context.Background()
	if _, err := a.Login(ctx, "alice", "right passphrase"); err != nil {
		t.Fatal(err)
	}
	if a.cache.len() != 1 {
		t.Fatalf("%d cached logins, want 1", a.cache.len())
	}
	h, err := a.Pool.HashPassword(ctx, "new passphrase", testParams)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateJournalist("alice", func(j *store.Journalist) error {
		j.PasswordHash = h
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if a.cache.len() != 0 {
		t.Fatal("passwd left the old login in the cache")
	}
	if _, err := a.Login(ctx, "alice", "right passphrase"); !errors.Is(err, ErrFailed) {
		t.Fatalf("old passphrase after passwd: %v", err)
	}
	before := k.verifies.Load()
	for range 2 {
		if _, err := a.Login(ctx, "alice", "new passphrase"); err != nil {
			t.Fatalf("new passphrase: %v", err)
		}
	}
	if n := k.verifies.Load() - before; n != 1 {
		t.Fatalf("%d verifications for the new passphrase twice, want 1", n)
	}
	if err := st.RemoveJournalist("alice"); err != nil {
		t.Fatal(err)
	}
	if a.cache.len() != 0 {
		t.Fatal("remove left the login in the cache")
	}
	if _, err := a.Login(ctx, "alice", "new passphrase"); !errors.Is(err, ErrFailed) {
		t.Fatalf("removed journalist logged in: %v", err)
	}
}

// TestCacheExpiresAndIsBounded: a cached login is verified by argon2id
// again after the TTL, and the cache holds at most CacheSize logins.
func TestCacheExpiresAndIsBounded(t *testing.T) {
	a, _ := newAuth(t)
	c := &clock{time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	a.Now = c.now
	k := countKDF(a)
	ctx := context.Background()
	a.Login(ctx, "alice", "right passphrase")
	c.t = c.t.Add(DefaultCacheTTL - time.Second)
	a.Login(ctx, "alice", "right passphrase")
	if n := k.verifies.Load(); n != 1 {
		t.Fatalf("%d verifications within the TTL, want 1", n)
	}
	c.t = c.t.Add(2 * time.Second)
	if _, err := a.Login(ctx, "alice", "right passphrase"); err != nil {
		t.Fatal(err)
	}
	if n := k.verifies.Load(); n != 2 {
		t.Fatalf("%d verifications after the TTL, want 2", n)
	}

	lc, err := newLoginCache(time.Hour, 2, c.now)
	if err != nil {
		t.Fatal(err)
	}
	tags := [][32]byte{lc.tag("a", "h", "p"), lc.tag("b", "h", "p"), lc.tag("c", "h", "p")}
	lc.add(tags[0], "a")
	lc.add(tags[1], "b")
	lc.hit(tags[0]) // a is now the most recently used
	lc.add(tags[2], "c")
	if lc.len() != 2 || !lc.hit(tags[0]) || lc.hit(tags[1]) || !lc.hit(tags[2]) {
		t.Fatal("the cache did not evict the least recently used login at its bound")
	}
	if lc.tag("ab", "c", "") == lc.tag("a", "bc", "") {
		t.Fatal("tags of different fields collide")
	}
}

// BenchmarkCachedLogins1000 is 1,000 logins in a row with the right
// passphrase (curl fetching message by message) after a first one verified
// by argon2id at the default parameters, outside the timing.
func BenchmarkCachedLogins1000(b *testing.B) {
	st, err := store.Init(b.TempDir()+"/data", store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	pool := kdf.NewPool(kdf.PoolOptions{})
	ctx := context.Background()
	h, err := pool.HashPassword(ctx, "right passphrase", kdf.DefaultPasswordParams())
	if err != nil {
		b.Fatal(err)
	}
	if err := st.AddJournalist(store.Journalist{Name: "alice", PasswordHash: h}); err != nil {
		b.Fatal(err)
	}
	a := &Authenticator{Store: st, Pool: pool, Throttle: NewThrottle(ThrottleOptions{})}
	if _, err := a.Login(ctx, "alice", "right passphrase"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		for range 1000 {
			if _, err := a.Login(ctx, "alice", "right passphrase"); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/login")
}
