package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"postern/tools/sourceclient"
)

type floodResult struct {
	n, failed       int
	p50, p99, max   time.Duration
	peakRSS         int64
	codenames, busy int64
	floodErrs       int64
}

// legitFile is what the legitimate source attaches to each submission: a
// document, not a token message.
const legitFile = 256 << 10

// benchFlood runs the relay with the production KDF settings (the default
// postern.conf: argon2id t=3, 64 MiB, workers = cores, queue 64), lets
// clients hammer "I am new" (each press costs an argon2id derivation), and
// meanwhile has one source, logged in before the flood, submit a message
// with a 256 KiB file again and again. It reports the latency percentiles
// of those submissions and the relay's peak RSS.
func (e *env) benchFlood(clients int, d time.Duration) (floodResult, error) {
	var r floodResult
	in, err := e.newInstance("flood", "", 1)
	if err != nil {
		return r, err
	}
	p, err := e.start(in)
	if err != nil {
		return r, err
	}
	defer p.stop()
	base := "http://" + p.info.IntakeAddr
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	legit := sourceclient.New(base, nil)
	if _, err := legit.NewCodename(context.Background()); err != nil {
		return r, fmt.Errorf("legitimate source: %w", err)
	}

	var wg sync.WaitGroup
	var codenames, busy, errs atomic.Int64
	var lastErr atomic.Value
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				// A new visitor each time (no cookie), whose connection is
				// closed afterwards: 200 clients means at most 200
				// connections, not one more left idle per codename.
				var conns []net.Conn
				dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
					if err == nil {
						conns = append(conns, c)
					}
					return c, err
				}
				c := sourceclient.New(base, dial)
				closeAll := func() {
					for _, c := range conns {
						c.Close()
					}
				}
				tok, err := c.Token(ctx, "/")
				if err != nil {
					closeAll()
					if ctx.Err() == nil {
						errs.Add(1)
						lastErr.Store(err.Error())
					}
					continue
				}
				pg, err := c.Post(ctx, "/new", url.Values{"csrf": {tok}})
				closeAll()
				switch {
				case ctx.Err() != nil:
				case err != nil:
					errs.Add(1)
					lastErr.Store(err.Error())
				case pg.Status == http.StatusOK:
					codenames.Add(1)
				case pg.Status == http.StatusServiceUnavailable:
					busy.Add(1)
				default:
					errs.Add(1)
					lastErr.Store(fmt.Sprintf("status %d", pg.Status))
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if rss, _, err := memory(p.pid()); err == nil {
					r.peakRSS = max(r.peakRSS, rss)
				}
			}
		}
	}()

	// Let the flood fill the queue before measuring.
	time.Sleep(min(2*time.Second, d/10))
	var lat []time.Duration
	for ctx.Err() == nil {
		t0 := time.Now()
		err := legit.Submit(context.Background(), "", "a legitimate submission",
			sourceclient.File{Name: "doc.pdf", R: randomReader(uint64(len(lat)), legitFile)})
		if ctx.Err() != nil && err != nil {
			break
		}
		if err != nil {
			r.failed++
			progress("flood: a legitimate submission failed: %v", err)
			continue
		}
		lat = append(lat, time.Since(t0))
	}
	cancel()
	wg.Wait()
	if _, hwm, err := memory(p.pid()); err == nil {
		r.peakRSS = max(r.peakRSS, hwm)
	}
	r.codenames, r.busy, r.floodErrs = codenames.Load(), busy.Load(), errs.Load()
	if e, ok := lastErr.Load().(string); ok {
		progress("flood: last flood error: %s", e)
	}
	if len(lat) == 0 {
		return r, fmt.Errorf("no legitimate submission completed (%d failed)", r.failed)
	}
	slices.Sort(lat)
	r.n = len(lat)
	r.p50 = lat[len(lat)/2]
	r.p99 = lat[min(len(lat)-1, len(lat)*99/100)]
	r.max = lat[len(lat)-1]
	return r, nil
}
