package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"postern/tools/sourceclient"
)

type rssResult struct {
	size               int64
	idle, peakRSS, hwm int64
	peak               int64 // max(peakRSS, hwm)
	wall               time.Duration
}

// rssEvery is how often VmRSS is sampled during the upload. VmHWM, the
// kernel's own peak, catches what falls between samples.
const rssEvery = 20 * time.Millisecond

// benchRSS streams one file of size bytes from a generator (never held in
// memory or on disk by the client) through the form and samples the
// relay's VmRSS; idle is VmRSS after a small warm-up submission, so the
// code paths are loaded before the baseline is taken.
func (e *env) benchRSS(size int64) (rssResult, error) {
	mibs := size>>20 + 2
	in, err := e.newInstance("rss", cheapKDF+fmt.Sprintf("max_submission_mib = %d\n", mibs), 2)
	if err != nil {
		return rssResult{}, err
	}
	p, err := e.start(in)
	if err != nil {
		return rssResult{}, err
	}
	defer p.stop()
	ctx := context.Background()
	src := sourceclient.New("http://"+p.info.IntakeAddr, nil)
	if _, err := src.NewCodename(ctx); err != nil {
		return rssResult{}, err
	}
	if err := src.Submit(ctx, "", "warm-up", sourceclient.File{Name: "w", R: randomReader(9, 1<<20)}); err != nil {
		return rssResult{}, err
	}
	time.Sleep(time.Second)
	r := rssResult{size: size}
	if r.idle, _, err = memory(p.pid()); err != nil {
		return r, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(rssEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if rss, _, err := memory(p.pid()); err == nil {
					r.peakRSS = max(r.peakRSS, rss)
				}
			}
		}
	}()
	t0 := time.Now()
	err = src.Submit(ctx, "", "memory benchmark", sourceclient.File{Name: "big.bin", R: randomReader(7, size)})
	r.wall = time.Since(t0)
	close(stop)
	wg.Wait()
	if err != nil {
		return r, fmt.Errorf("submit: %w", err)
	}
	if _, r.hwm, err = memory(p.pid()); err != nil {
		return r, err
	}
	r.peak = max(r.peakRSS, r.hwm)
	return r, nil
}
