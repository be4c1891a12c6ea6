package web

import (
	"context"
	"sync"
	"time"
)

// When every upload slot is taken, a newcomer may take the place of the
// slowest upload in flight, if that one is below the contested floor. The
// plain floor (UploadMinRate after UploadGrace) alone let a few sessions
// keep every slot at almost no cost: an upload that sends nothing lives for
// the whole grace period, so 8 sessions re-opening 2 silent uploads each a
// minute, or trickling just above the floor, kept every other source on the
// busy page. A contested upload's rate is its bytes over its age counted as
// at least the grace period, so a fresh upload must have sent something to
// count as fast: holding every slot against newcomers then costs
// MaxUploads × contestFactor × UploadMinRate bytes a second, sustained.
// A source's upload is dropped this way only while every slot is taken and
// it is the slowest of all, below the contested floor.
const (
	contestFactor = 8
	// contestWait bounds how long a newcomer waits for the slot of the
	// upload it dropped (its handler aborts the delivery first).
	contestWait = 10 * time.Second
)

// flights is the set of uploads reading their body.
type flights struct {
	mu sync.Mutex
	in map[*paceReader]struct{}
}

func (f *flights) add(p *paceReader) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.in == nil {
		f.in = map[*paceReader]struct{}{}
	}
	f.in[p] = struct{}{}
}

func (f *flights) remove(p *paceReader) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.in, p)
}

// evictSlowest drops the upload with the lowest contested rate if it is
// below floor (bytes a second), and reports whether it dropped one.
func (f *flights) evictSlowest(now time.Time, floor int64, grace time.Duration) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	var slow *paceReader
	var slowRate float64
	for p := range f.in {
		if p.evicted.Load() {
			continue
		}
		r := p.contestedRate(now, grace)
		if slow == nil || r < slowRate {
			slow, slowRate = p, r
		}
	}
	if slow == nil || slowRate >= float64(floor) {
		return false
	}
	slow.evict()
	return true
}

// takeSlot takes an upload slot, if need be in place of the slowest upload.
func (s *Server) takeSlot(ctx context.Context) bool {
	select {
	case s.uploads <- struct{}{}:
		return true
	default:
	}
	if s.o.UploadMinRate <= 0 || !s.flights.evictSlowest(time.Now(), s.o.UploadMinRate*contestFactor, s.o.UploadGrace) {
		return false
	}
	t := time.NewTimer(contestWait)
	defer t.Stop()
	select {
	case s.uploads <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}
