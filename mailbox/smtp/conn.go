package smtpd

import (
	"net"
	"sync"
	"time"
)

// limitListener caps open connections and gives every read a deadline.
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
			return &limitConn{Conn: c, idle: l.s.o.ReadTimeout, release: func() { <-l.s.slots }}, nil
		default:
			// Over the limit: say so briefly and drop it. Behind Tor every
			// client is 127.0.0.1, so the cap is global by necessity.
			c.SetWriteDeadline(time.Now().Add(time.Second))
			c.Write([]byte("421 4.7.0 Too many connections, try again later\r\n"))
			c.Close()
		}
	}
}

// limitConn frees its slot once when closed and sets a fresh read deadline
// before every read: a connection silent for the idle time is dropped,
// whatever state go-smtp is in (it sets deadlines only between commands,
// and after a refused DATA it reads and discards the rest of the body).
type limitConn struct {
	net.Conn
	idle    time.Duration
	once    sync.Once
	release func()
}

func (c *limitConn) Read(b []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// SetReadDeadline is a no-op: Read sets the deadline itself.
func (c *limitConn) SetReadDeadline(time.Time) error { return nil }

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
