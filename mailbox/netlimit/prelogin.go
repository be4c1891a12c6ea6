package netlimit

import "net"

// Login tells the listener that a login starts on c (a connection from a
// Listener, or one wrapping it and unwrapping with NetConn). Call the
// returned done once, when the password check ends, with the name that
// logged in, or "" if the login failed:
//
//   - while the login runs, c is not closed by the pre-login deadline nor
//     evicted by newer connections: a journalist waiting in the argon2
//     queue is not cut off mid-login;
//   - done(name) moves c out of the not-logged-in share for good, unless
//     name already holds PerNameMax logged-in connections: then done
//     reports false, and the server must refuse the login;
//   - a failed login leaves c where it was (the oldest, so the first
//     evicted), and closes it if its deadline passed during the login.
//
// Later calls of done do nothing and report false. For a connection of
// no Listener, done reports true and does nothing else.
func Login(c net.Conn) (done func(name string) bool) {
	lc := unwrap(c)
	if lc == nil {
		return func(string) bool { return true }
	}
	l := lc.l
	l.mu.Lock()
	lc.inLogin++
	l.mu.Unlock()
	called := false
	return func(name string) bool {
		l.mu.Lock()
		if called {
			l.mu.Unlock()
			return false
		}
		called = true
		lc.inLogin--
		ok := name != "" && (l.o.PerNameMax <= 0 || l.perName[name] < l.o.PerNameMax)
		closeIt := false
		switch {
		case ok && lc.holds && lc.name == "":
			lc.name = name
			l.perName[name]++
			l.preLogin.remove(lc)
			if lc.timer != nil {
				lc.timer.Stop()
			}
		case !ok && lc.expired && lc.inLogin == 0:
			closeIt = true
		}
		l.mu.Unlock()
		if closeIt {
			lc.Close()
		}
		return ok
	}
}

// unwrap finds the listener's conn under wrappers such as imapd's guard.
func unwrap(c net.Conn) *conn {
	for range 8 {
		switch x := c.(type) {
		case *conn:
			return x
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// expire runs when c's pre-login deadline passes.
func (c *conn) expire() {
	c.l.mu.Lock()
	switch {
	case !c.pending: // logged in, or closed already
		c.l.mu.Unlock()
		return
	case c.inLogin > 0:
		c.expired = true // the login's done decides
		c.l.mu.Unlock()
		return
	}
	c.l.mu.Unlock()
	c.Close()
}

// connList is a list of the connections not logged in, oldest first.
type connList struct {
	head, tail *conn
	n          int
}

func (q *connList) push(c *conn) {
	c.pending = true
	c.prev, c.next = q.tail, nil
	if q.tail != nil {
		q.tail.next = c
	} else {
		q.head = c
	}
	q.tail = c
	q.n++
}

func (q *connList) remove(c *conn) {
	if !c.pending {
		return
	}
	c.pending = false
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		q.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		q.tail = c.prev
	}
	c.prev, c.next = nil, nil
	q.n--
}

// oldestIdle is the oldest connection not inside a login, or nil.
func (q *connList) oldestIdle() *conn {
	for c := q.head; c != nil; c = c.next {
		if c.inLogin == 0 {
			return c
		}
	}
	return nil
}
