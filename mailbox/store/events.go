package store

import "sync"

// Subscribe registers fn to hear about committed changes (new messages, expunges,
// flag changes, a journalist's removal), for IMAP IDLE. fn runs after the commit,
// outside any transaction, in commit order, on the goroutine that made the change:
// it must be quick and must not call a Store method that writes (hand the event to
// a channel or a goroutine instead). Reading methods are fine. cancel removes it.
func (s *Store) Subscribe(fn func(Event)) (cancel func()) {
	s.subMu.Lock()
	id := s.nextSub
	s.nextSub++
	s.subs[id] = fn
	s.subMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.subMu.Lock()
			delete(s.subs, id)
			s.subMu.Unlock()
		})
	}
}

// publish calls the subscribers; the caller holds pubMu so events keep commit order.
func (s *Store) publish(events []Event) {
	if len(events) == 0 {
		return
	}
	s.subMu.Lock()
	fns := make([]func(Event), 0, len(s.subs))
	for _, fn := range s.subs {
		fns = append(fns, fn)
	}
	s.subMu.Unlock()
	for _, e := range events {
		for _, fn := range fns {
			ev := e
			ev.UIDs = append([]uint32(nil), e.UIDs...)
			fn(ev)
		}
	}
}
