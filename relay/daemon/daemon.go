// Package daemon runs the relay's network services side by side and stops
// them together. It knows nothing about what a service does: relay/demo
// (and later relay serve) build the list, so adding the intake form, IMAP
// or SMTP is one entry each.
//
// Listeners are bound before anything runs (Bind), so a busy port fails
// the start-up at once and the caller learns the real addresses (port 0
// in tests) before it announces them.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Service is one network service.
type Service struct {
	// Name appears in logs ("intake", "imap", "smtp", "ctl").
	Name string
	// Addr is a loopback host:port to bind, unless Listener is set.
	Addr string
	// Listener is a listener bound by the caller (the control socket), or
	// the one Bind made.
	Listener net.Listener
	// Serve runs the service on ln until ctx is done, then finishes the
	// work in flight (a submission being written) and returns. A nil
	// return before ctx is done counts as a failure: services do not stop
	// on their own.
	Serve func(ctx context.Context, ln net.Listener) error
}

// Bind opens the listeners of every service that has none, in order. On
// failure it closes what it opened and names the service.
func Bind(svcs []Service) error {
	for i := range svcs {
		if svcs[i].Listener != nil {
			continue
		}
		ln, err := net.Listen("tcp", svcs[i].Addr)
		if err != nil {
			for j := range i {
				if svcs[j].Listener != nil {
					svcs[j].Listener.Close()
				}
			}
			return fmt.Errorf("daemon: %s: %w", svcs[i].Name, err)
		}
		svcs[i].Listener = ln
	}
	return nil
}

// Options configure Run.
type Options struct {
	Logger *slog.Logger
	// ShutdownGrace bounds how long Run waits for services after the stop;
	// default 30s. A service still running after it is abandoned (its
	// listener is closed) and reported.
	ShutdownGrace time.Duration
}

// Run binds what is unbound, runs every service, and returns when ctx is
// done (nil) or when a service fails (its error), after stopping all of
// them.
func Run(ctx context.Context, svcs []Service, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	grace := o.ShutdownGrace
	if grace <= 0 {
		grace = 30 * time.Second
	}
	if err := Bind(svcs); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, s := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			log.Info("service started", "service", s.Name, "listen", s.Listener.Addr().String())
			err := s.Serve(ctx, s.Listener)
			if ctx.Err() == nil {
				if err == nil {
					err = errors.New("stopped unexpectedly")
				}
				cancel(fmt.Errorf("%s: %w", s.Name, err))
			} else if err != nil {
				log.Warn("service stopped with an error", "service", s.Name, "err", err)
			}
			log.Info("service stopped", "service", s.Name)
		}()
	}
	<-ctx.Done()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		for _, s := range svcs {
			s.Listener.Close()
		}
		log.Error("shutdown grace period over; some service did not stop", "elapsed", grace)
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("daemon: %w", err)
	}
	return nil
}

// HTTP adapts an http.Server to Service.Serve: it serves on the listener
// and, when ctx ends, shuts down gracefully so that uploads in flight
// finish (bounded by the grace period of Run).
func HTTP(srv *http.Server) func(ctx context.Context, ln net.Listener) error {
	return func(ctx context.Context, ln net.Listener) error {
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 25*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
		return err
	}
}
