package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestScrub(t *testing.T) {
	cases := []struct{ in, want string }{
		{"dial tcp 192.0.2.7:443: refused", "dial tcp [ip]:443: refused"},
		{"from 10.1.2.3 and 127.0.0.1", "from [ip] and [ip]"},
		{"dial tcp [2001:db8::1]:443: refused", "dial tcp [[ip]]:443: refused"},
		{"lookup 2001:db8::1: no such host", "lookup [ip]: no such host"},
		{"peer ::ffff:198.51.100.1 gone", "peer [ip] gone"},
		{"peer fe80::1%eth0 gone", "peer [ip] gone"},
		{"peer ::1 gone", "peer [ip] gone"},
		{"rcpt <quixotic.tangerine@postern.local> refused", "rcpt <[email]> refused"},
		{"from jane.doe+x@example.org", "from [email]"},
		{"at 14:03:22 the store: open failed", "at 14:03:22 the store: open failed"},
		{"deadbeef:cafe", "deadbeef:cafe"},
		{"version 1.2.3", "version 1.2.3"},
		{"999.1.1.1", "999.1.1.1"},
		{"", ""},
	}
	for _, tc := range cases {
		if got := Scrub(tc.in); got != tc.want {
			t.Errorf("Scrub(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

type stringer struct{}

func (stringer) String() string { return "client 203.0.113.9" }

type valuer struct{}

func (valuer) LogValue() slog.Value { return slog.StringValue("to x@y.example") }

func record(t *testing.T, fn func(l *slog.Logger)) map[string]any {
	t.Helper()
	var b bytes.Buffer
	fn(New(&b, Options{JSON: true, Level: slog.LevelDebug}))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line, got %q", b.String())
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestHandlerRedactsUnknownKeys(t *testing.T) {
	m := record(t, func(l *slog.Logger) {
		l.Info("submission from 198.51.100.4 by a@b.example",
			"codename", "correct horse battery staple",
			"subject", "the leak",
			"remote", "198.51.100.4:5555",
			"journalist", "jane",
			"count", 3,
			"err", errors.New("write to 198.51.100.4:25 failed"),
			"component", stringer{},
			"mailbox", valuer{},
			"bytes", []byte("secret"),
			"elapsed", 2*time.Second,
		)
	})
	want := map[string]any{
		"msg":        "submission from [ip] by [email]",
		"codename":   Redacted,
		"subject":    Redacted,
		"remote":     Redacted,
		"journalist": "jane",
		"count":      float64(3),
		"err":        "write to [ip]:25 failed",
		"component":  "client [ip]",
		"mailbox":    "to [email]",
		"bytes":      Redacted,
		"elapsed":    float64(2 * time.Second),
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %#v, want %#v", k, m[k], v)
		}
	}
	if _, ok := m["source"]; ok {
		t.Error("source location logged")
	}
}

func TestHandlerAddressKeys(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080"},
		{"[::1]:1143", "[::1]:1143"},
		{"localhost:1587", "localhost:1587"},
		{"/var/lib/postern/relay.sock", "/var/lib/postern/relay.sock"},
		{"203.0.113.5:80", Redacted},
		{"0.0.0.0:80", Redacted},
		{"jane@example.org", Redacted},
		{fakeAddr("192.0.2.1:4"), Redacted},
		{fakeAddr("127.0.0.1:4"), "127.0.0.1:4"},
	} {
		m := record(t, func(l *slog.Logger) { l.Info("listening", "listen", tc.v) })
		if m["listen"] != tc.want {
			t.Errorf("listen=%v logged as %v, want %v", tc.v, m["listen"], tc.want)
		}
	}
}

type fakeAddr string

func (a fakeAddr) String() string { return string(a) }

func TestHandlerGroupsAndWith(t *testing.T) {
	var b bytes.Buffer
	l := New(&b, Options{JSON: true}).With("component", "intake", "peer", "192.0.2.9")
	l = l.WithGroup("g").With("codename", "x")
	l.Info("m", slog.Group("inner", "count", 1, "filename", "leak.pdf"), "day", time.Date(2026, 3, 4, 15, 16, 17, 0, time.UTC))
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["component"] != "intake" || m["peer"] != Redacted {
		t.Errorf("With attrs not cleaned: %v", m)
	}
	g := m["g"].(map[string]any)
	if g["codename"] != Redacted {
		t.Errorf("group With not cleaned: %v", g)
	}
	inner := g["inner"].(map[string]any)
	if inner["count"] != float64(1) || inner["filename"] != Redacted {
		t.Errorf("nested group not cleaned: %v", inner)
	}
	if g["day"] != Redacted { // not an allowed key
		t.Errorf("day = %v", g["day"])
	}
	if strings.Contains(b.String(), "leak.pdf") || strings.Contains(b.String(), "192.0.2.9") {
		t.Fatalf("secret leaked: %s", b.String())
	}
}

func TestHandlerTimes(t *testing.T) {
	var b bytes.Buffer
	h := NewHandler(slog.NewJSONHandler(&b, nil))
	r := slog.NewRecord(time.Date(2026, 3, 4, 15, 16, 17, 123456789, time.UTC), slog.LevelInfo, "m", 0)
	// An allowed key carrying a time is cut to the day.
	key := "state"
	r.AddAttrs(slog.Time(key, time.Date(2026, 3, 4, 15, 16, 17, 0, time.UTC)))
	if err := h.Handle(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b.Bytes(), &m)
	if m["time"] != "2026-03-04T15:16:17Z" {
		t.Errorf("record time %v, want cut to the second", m["time"])
	}
	if m["state"] != "2026-03-04T00:00:00Z" {
		t.Errorf("time value %v, want cut to the day", m["state"])
	}
}

func TestTextFormatAndLevel(t *testing.T) {
	var b bytes.Buffer
	lvl, err := ParseLevel("warn")
	if err != nil {
		t.Fatal(err)
	}
	l := New(&b, Options{Level: lvl})
	l.Info("hidden")
	l.Warn("shown", "err", fmt.Errorf("from 192.0.2.1"))
	out := b.String()
	if strings.Contains(out, "hidden") || !strings.Contains(out, `err="from [ip]"`) {
		t.Fatalf("out = %q", out)
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Fatal("ParseLevel accepted garbage")
	}
}

// FuzzScrub: no IPv4 address or e-mail survives, and Scrub never panics.
func FuzzScrub(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "a@b.c", "x ::1 y", "2001:db8::1:", "14:03:22", "[fe80::1%lo]:80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Scrub(s)
		for _, m := range ipv4RE.FindAllString(out, -1) {
			if strings.Count(m, ".") == 3 && validIPv4(m) {
				t.Fatalf("Scrub(%q) = %q still holds %q", s, out, m)
			}
		}
		if strings.Contains(out, "@") && emailRE.MatchString(out) {
			t.Fatalf("Scrub(%q) = %q still holds an e-mail address", s, out)
		}
	})
}

func validIPv4(s string) bool {
	var a, b, c, d int
	n, _ := fmt.Sscanf(s, "%d.%d.%d.%d", &a, &b, &c, &d)
	return n == 4 && a < 256 && b < 256 && c < 256 && d < 256 && !strings.Contains(s, ".0") && s[0] != '0'
}

func BenchmarkHandler(b *testing.B) {
	l := New(io.Discard, Options{})
	err := errors.New("dial tcp 192.0.2.1:443: connection refused")
	b.ReportAllocs()
	for b.Loop() {
		l.Info("delivery failed", "component", "intake", "err", err, "count", 3, "subject", "x")
	}
}

// A struct under an allowed key is not printed field by field.
func TestHandlerRedactsStructValues(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, Options{})
	type record struct{ Subject, Codename string }
	log.Info("x", "count", record{"the subject", "seven secret words"})
	if strings.Contains(buf.String(), "subject") || strings.Contains(buf.String(), "secret") {
		t.Fatalf("struct fields logged: %s", buf.String())
	}
}
