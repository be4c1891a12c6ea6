package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

type connsResult struct {
	opened     int
	idle, peak int64
	refused    int
}

// benchConns measures what visitors who stay connected cost: n clients
// each load the landing page over HTTP/1.1 keep-alive and then leave the
// connection open, as a browser or an attacker may. It reports the relay's
// RSS before and with all of them connected. The 512 MiB budget of (e) is
// the yardstick; no goal is set in the issue. It was added after the first
// flood run, whose client leaked idle connections, pushed the relay to
// 944 MiB.
func (e *env) benchConns(n int) (connsResult, error) {
	var r connsResult
	in, err := e.newInstance("conns", "", 1)
	if err != nil {
		return r, err
	}
	p, err := e.start(in)
	if err != nil {
		return r, err
	}
	defer p.stop()
	time.Sleep(time.Second)
	if r.idle, _, err = memory(p.pid()); err != nil {
		return r, err
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.DialTimeout("tcp", p.info.IntakeAddr, 10*time.Second)
		if err != nil {
			r.refused++
			continue
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: x\r\n\r\n", p.info.IntakeAddr)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			c.Close()
			r.refused++
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		c.SetDeadline(time.Time{})
		conns = append(conns, c)
	}
	r.opened = len(conns)
	time.Sleep(time.Second)
	rss, hwm, err := memory(p.pid())
	if err != nil {
		return r, err
	}
	r.peak = max(rss, hwm)
	return r, nil
}
