// Package logging holds the one slog.Handler every Postern logger goes
// through. It enforces the privacy rules of the design in one place instead
// of at every call site:
//
//   - Only attributes whose key is on a short allow-list keep their value
//     (see SafeKeys); any other attribute is kept with the value "[redacted]",
//     so a developer sees that something was logged and removed.
//   - IPv4 and IPv6 addresses and e-mail addresses are replaced in the
//     message and in every string value ("[ip]", "[email]"): error strings
//     from libraries are the usual way an address slips into a log.
//   - The "listen" and "addr" keys keep their value only when it is a
//     loopback host:port or a unix socket path: they exist to say where a
//     service listens, never who connected.
//   - time.Time values are cut to the day (UTC); the record's own time is cut
//     to the second. Durations and numbers pass unchanged.
//
// What the handler cannot enforce is the rule for callers: Postern writes no
// per-request or per-connection lines (no access log, no "login by"), only
// start-up, shutdown, configuration and failures that an admin must act on.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Redacted replaces the value of an attribute whose key is not allowed.
const Redacted = "[redacted]"

// keyRule says how a safe key's value is treated.
type keyRule int

const (
	plain   keyRule = iota // scrubbed like any string
	address                // loopback host:port or a socket path, else redacted
)

// SafeKeys is the allow-list of attribute keys and why each is harmless.
// Keys are compared exactly (lower case, as call sites write them).
var SafeKeys = map[string]keyRule{
	"component":   plain,   // which part of the relay logs ("intake", "imap")
	"service":     plain,   // a service name in start/stop lines
	"op":          plain,   // an admin operation name ("journalist.add")
	"err":         plain,   // errors, scrubbed of addresses
	"error":       plain,   // same
	"journalist":  plain,   // staff account names are not secret
	"count":       plain,   // numbers of things
	"bytes":       plain,   // sizes
	"size":        plain,   //
	"limit":       plain,   // a configured limit that was hit
	"mailbox":     plain,   // IMAP mailbox names (INBOX, Sent, …)
	"uid":         plain,   // IMAP UIDs
	"version":     plain,   // software or schema versions
	"schema":      plain,   //
	"migration":   plain,   // names of data migrations run
	"dir":         plain,   // the data directory
	"signal":      plain,   // the signal that stopped the relay
	"workers":     plain,   // pool sizes
	"queue":       plain,   //
	"elapsed":     plain,   // how long start-up or shutdown took
	"state":       plain,   // a component's state ("ready", "stopping")
	"event":       plain,   // a kind of counted failure (a constant; relay/admin report)
	"events":      plain,   // how many kinds were counted
	"lapsed_keys": plain,   // how many journalists' keys lapsed
	"listen":      address, // where a service listens
	"addr":        address, //
}

// Options configure New.
type Options struct {
	JSON  bool         // JSON lines instead of logfmt-style text
	Level slog.Leveler // nil = Info
}

// New returns a logger writing to w through the privacy handler.
func New(w io.Writer, o Options) *slog.Logger {
	ho := &slog.HandlerOptions{Level: o.Level}
	var inner slog.Handler
	if o.JSON {
		inner = slog.NewJSONHandler(w, ho)
	} else {
		inner = slog.NewTextHandler(w, ho)
	}
	return slog.New(NewHandler(inner))
}

// ParseLevel maps the config's log_level words to slog levels.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("logging: %w", err)
	}
	return l, nil
}

// Handler is the privacy-enforcing wrapper. The zero value is not usable;
// build it with NewHandler.
type Handler struct {
	inner slog.Handler
}

// NewHandler wraps inner so that every record passes the privacy rules.
func NewHandler(inner slog.Handler) *Handler { return &Handler{inner: inner} }

// Enabled reports the inner handler's decision.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

// Handle scrubs the record and passes a clean copy on. The program counter
// is dropped: source locations are not needed to run a relay.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time.Truncate(time.Second), r.Level, Scrub(r.Message), 0)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(cleanAttr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

// WithAttrs cleans the attributes before the inner handler pre-formats them.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = cleanAttr(a)
	}
	return &Handler{inner: h.inner.WithAttrs(clean)}
}

// WithGroup opens a group; members are still filtered by their own keys.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name)}
}

func cleanAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		members := v.Group()
		clean := make([]any, 0, len(members))
		for _, m := range members {
			clean = append(clean, cleanAttr(m))
		}
		return slog.Group(a.Key, clean...)
	}
	rule, ok := SafeKeys[a.Key]
	if !ok {
		return slog.String(a.Key, Redacted)
	}
	if rule == address {
		s := valueString(v)
		if !isLocalAddress(s) {
			return slog.String(a.Key, Redacted)
		}
		return slog.String(a.Key, s)
	}
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Scrub(v.String()))
	case slog.KindAny:
		// An error's or a Stringer's text is scrubbed and kept; any other
		// value (a struct printed whole would show every field) is not.
		switch v.Any().(type) {
		case error, fmt.Stringer:
		default:
			return slog.String(a.Key, Redacted)
		}
		return slog.String(a.Key, Scrub(valueString(v)))
	case slog.KindTime:
		return slog.Time(a.Key, v.Time().UTC().Truncate(24*time.Hour))
	default: // numbers, bools, durations
		return slog.Attr{Key: a.Key, Value: v}
	}
}

func valueString(v slog.Value) string {
	if v.Kind() != slog.KindAny {
		return v.String()
	}
	switch x := v.Any().(type) {
	case error:
		return x.Error()
	case fmt.Stringer:
		return x.String()
	case []byte:
		return Redacted // raw bytes are never something to log
	default:
		return fmt.Sprint(x)
	}
}

// isLocalAddress accepts a loopback host:port, "localhost:port", or an
// absolute path (a unix socket in the data directory).
func isLocalAddress(s string) bool {
	if filepath.IsAbs(s) {
		return !strings.ContainsAny(s, "@\n")
	}
	ap, err := netip.ParseAddrPort(s)
	if err == nil {
		return ap.Addr().IsLoopback()
	}
	host, _, ok := strings.Cut(s, ":")
	return ok && host == "localhost"
}

var (
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+'=-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*`)
	// Candidates only; each is confirmed with netip so that clock times
	// ("14:03:22") and words with colons are left alone.
	ipv4RE = regexp.MustCompile(`\d{1,3}(\.\d{1,3}){3}`)
	ipv6RE = regexp.MustCompile(`[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}(\.\d{1,3}){0,3}(%[A-Za-z0-9_.-]+)?`)
)

// Scrub replaces e-mail addresses and IP addresses in s. It errs on the
// side of removing: a version string that looks like an IPv4 address is
// lost too, which is a small price.
func Scrub(s string) string {
	if s == "" {
		return s
	}
	if strings.Contains(s, "@") {
		s = emailRE.ReplaceAllString(s, "[email]")
	}
	if !strings.ContainsAny(s, ".:") {
		return s
	}
	s = ipv6RE.ReplaceAllStringFunc(s, func(m string) string {
		// The candidate may carry a separator colon on either side
		// ("lookup 2001:db8::1: no such host"); a "::" belongs to it.
		core := m
		lead, trail := "", ""
		if strings.HasPrefix(core, ":") && !strings.HasPrefix(core, "::") {
			lead, core = ":", core[1:]
		}
		if strings.HasSuffix(core, ":") && !strings.HasSuffix(core, "::") {
			trail, core = ":", core[:len(core)-1]
		}
		if _, err := netip.ParseAddr(core); err == nil {
			return lead + "[ip]" + trail
		}
		return m
	})
	return ipv4RE.ReplaceAllStringFunc(s, func(m string) string {
		if _, err := netip.ParseAddr(m); err == nil {
			return "[ip]"
		}
		return m
	})
}
