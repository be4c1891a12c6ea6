package imapd

import (
	"net"
	"sync"
	"time"
)

// limitListener caps open connections and bounds every read deadline.
type limitListener struct {
	net.Listener
	s *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.s.slots <- struct{}{}:
			return &limitConn{Conn: c, idle: l.s.o.IdleTimeout, release: func() { <-l.s.slots }}, nil
		default:
			// Over the limit: say so briefly and drop it. Behind Tor every
			// client is 127.0.0.1, so the cap is global by necessity.
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write([]byte("* BYE Too many connections\r\n"))
			c.Close()
		}
	}
}

// limitConn frees its slot once when closed and caps read deadlines at the
// idle timeout, so no state of the library can keep a silent connection
// open longer than that.
type limitConn struct {
	net.Conn
	idle    time.Duration
	once    sync.Once
	release func()
}

func (c *limitConn) SetReadDeadline(t time.Time) error {
	if limit := time.Now().Add(c.idle); t.IsZero() || t.After(limit) {
		t = limit
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
