package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// maxLine bounds one line; a settings file has no business with longer ones.
const maxLine = 4096

// ErrSyntax is wrapped by every parse error, so callers can tell a bad file
// from an unreadable one.
var ErrSyntax = errors.New("bad settings file")

// LineError names the line a problem was found on.
type LineError struct {
	Line int
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Unwrap lets errors.Is(err, ErrSyntax) hold.
func (e *LineError) Unwrap() error { return ErrSyntax }

// Parse reads a settings file strictly: defaults for keys that are absent,
// an error for anything unknown, repeated or out of range.
func Parse(r io.Reader) (Config, error) {
	c := Default()
	byKey := make(map[string]*setting, len(settings))
	for i := range settings {
		byKey[settings[i].key] = &settings[i]
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 512), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if !utf8.ValidString(line) {
			return Config{}, &LineError{n, "not valid UTF-8"}
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return Config{}, &LineError{n, fmt.Sprintf("expected \"key = value\", got %q", clip(line))}
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		s := byKey[key]
		if s == nil {
			return Config{}, &LineError{n, fmt.Sprintf("unknown setting %q", clip(key))}
		}
		if prev, dup := seen[key]; dup && !s.repeat {
			return Config{}, &LineError{n, fmt.Sprintf("%s is already set on line %d", key, prev)}
		}
		seen[key] = n
		if err := s.set(&c, value); err != nil {
			return Config{}, &LineError{n, fmt.Sprintf("%s: %v", key, err)}
		}
		if err := s.check(&c); err != nil {
			return Config{}, &LineError{n, fmt.Sprintf("%s: %v", key, err)}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Config{}, &LineError{n + 1, fmt.Sprintf("line longer than %d bytes", maxLine)}
		}
		return Config{}, fmt.Errorf("config: read: %w", err)
	}
	// Checks that span several keys (a KDF group set across lines) are run
	// once more on the finished config; errors then name the key, not a line.
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return c, nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// Write renders c as a complete, commented settings file: every key is
// present with its documentation, so the file is its own manual.
func (c Config) Write(w io.Writer) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var b strings.Builder
	b.WriteString("# Postern settings. Format: \"key = value\"; lines starting with # are\n" +
		"# comments. Unknown or repeated keys are refused, naming the line.\n" +
		"# The relay reads this file at start-up; restart it after a change.\n")
	def := Default()
	for _, s := range settings {
		b.WriteString("\n")
		for _, l := range strings.Split(s.doc, "\n") {
			b.WriteString("# " + l + "\n")
		}
		if d := s.get(&def); len(d) == 1 {
			fmt.Fprintf(&b, "# Default: %s\n", orNone(d[0]))
		}
		vals := s.get(&c)
		if s.repeat && len(vals) == 0 {
			fmt.Fprintf(&b, "#%s = \n", s.key)
		}
		for _, v := range vals {
			fmt.Fprintf(&b, "%s = %s\n", s.key, v)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(s string) string {
	if s == "" {
		return "(empty)"
	}
	return s
}

// WriteFile writes DIR/postern.conf with mode 0600, refusing to replace an
// existing file (init must never overwrite an admin's settings).
func (c Config) WriteFile(dataDir string) error {
	path := filepath.Join(dataDir, FileName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := c.Write(f); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("config: sync: %w", err)
	}
	return f.Close()
}
