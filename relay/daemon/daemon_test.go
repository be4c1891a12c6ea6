package daemon

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func echo(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		c.Write([]byte("hi"))
		c.Close()
	}
}

func TestRunStopsAllOnCancel(t *testing.T) {
	svcs := []Service{
		{Name: "a", Addr: "127.0.0.1:0", Serve: echo},
		{Name: "b", Addr: "127.0.0.1:0", Serve: echo},
	}
	if err := Bind(svcs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, svcs, Options{}) }()
	for _, s := range svcs {
		c, err := net.Dial("tcp", s.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2)
		if _, err := c.Read(buf); err != nil || string(buf) != "hi" {
			t.Fatalf("%s: %q %v", s.Name, buf, err)
		}
		c.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Closed listeners fail Accept at once. (Dialing the old port would
	// be flaky: another process may have bound it since.)
	for _, s := range svcs {
		if _, err := s.Listener.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s: listener not closed after shutdown: %v", s.Name, err)
		}
	}
}

func TestRunFailureStopsOthers(t *testing.T) {
	var stopped atomic.Bool
	svcs := []Service{
		{Name: "good", Addr: "127.0.0.1:0", Serve: func(ctx context.Context, ln net.Listener) error {
			<-ctx.Done()
			stopped.Store(true)
			return nil
		}},
		{Name: "bad", Addr: "127.0.0.1:0", Serve: func(context.Context, net.Listener) error {
			return errors.New("boom")
		}},
	}
	err := Run(context.Background(), svcs, Options{})
	if err == nil || !strings.Contains(err.Error(), "bad: boom") {
		t.Fatalf("err = %v", err)
	}
	if !stopped.Load() {
		t.Fatal("the good service was not stopped")
	}
}

func TestBindBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	svcs := []Service{
		{Name: "first", Addr: "127.0.0.1:0"},
		{Name: "second", Addr: ln.Addr().String()},
	}
	err = Bind(svcs)
	if err == nil || !strings.Contains(err.Error(), "second") {
		t.Fatalf("err = %v", err)
	}
	// The first listener was closed again.
	if _, err := svcs[0].Listener.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("first listener left open: %v", err)
	}
}

// HTTP finishes a request in flight when the relay stops.
func TestHTTPGracefulShutdown(t *testing.T) {
	inHandler := make(chan struct{})
	release := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(inHandler)
		<-release
		io.WriteString(w, "done")
	})}
	svcs := []Service{{Name: "web", Addr: "127.0.0.1:0", Serve: HTTP(srv)}}
	if err := Bind(svcs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- Run(ctx, svcs, Options{}) }()
	body := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + svcs[0].Listener.Addr().String() + "/")
		if err != nil {
			body <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body <- string(b)
	}()
	<-inHandler
	addr := svcs[0].Listener.Addr().String()
	cancel()
	// Release the handler only once the stop has reached the server: its
	// listener refuses new connections. A server that closed its
	// connections instead of shutting down has cut the request by then.
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	if got := <-body; got != "done" {
		t.Fatalf("in-flight request got %q", got)
	}
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
}
