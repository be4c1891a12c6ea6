package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"postern/mailbox/kdf"
)

func TestDefaultRoundTrip(t *testing.T) {
	var b bytes.Buffer
	if err := Default().Write(&b); err != nil {
		t.Fatal(err)
	}
	got, err := Parse(&b)
	if err != nil {
		t.Fatalf("parse written defaults: %v\n%s", err, b.String())
	}
	if !reflect.DeepEqual(got, Default()) {
		t.Fatalf("round trip changed defaults:\n got %+v\nwant %+v", got, Default())
	}
}

// Every setting must be written with its documentation: the file is the
// admin's manual.
func TestWriteDocumentsEveryKey(t *testing.T) {
	var b bytes.Buffer
	c := Default()
	c.TorExtra = []string{"TestingTorNetwork 1", "ConnLimit 60"}
	if err := c.Write(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, s := range settings {
		if !strings.Contains(text, "\n"+s.key+" = ") {
			t.Errorf("key %s missing from written file", s.key)
		}
		if !strings.Contains(text, "# "+strings.Split(s.doc, "\n")[0]) {
			t.Errorf("doc of %s missing", s.key)
		}
	}
	got, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.TorExtra, c.TorExtra) {
		t.Fatalf("tor_extra = %q", got.TorExtra)
	}
}

func TestParseValues(t *testing.T) {
	in := `
# small argon2 for tests
source_kdf_time = 1
source_kdf_memory_kib=8192
  source_kdf_threads = 1
organisation = The #1 Paper
languages = en, pt-BR
archive_key_file =
retention_days = 0
publish_key_fingerprints = no
intake_listen = [::1]:0
tor_extra = TestingTorNetwork 1
tor_extra = ConnLimit 60
`
	c, err := Parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.SourceKDF = KDFParams{Time: 1, MemoryKiB: 8192, Threads: 1}
	want.Organisation = "The #1 Paper"
	want.Languages = []string{"en", "pt-BR"}
	want.RetentionDays = 0
	want.PublishKeyFPRs = false
	want.IntakeListen = "[::1]:0"
	want.TorExtra = []string{"TestingTorNetwork 1", "ConnLimit 60"}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got  %+v\nwant %+v", c, want)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"bogus = 1", `line 1: unknown setting "bogus"`},
		{"\n\nretention_days = 1\nretention_days = 2", "line 4: retention_days is already set on line 3"},
		{"mail_domain", `line 1: expected "key = value"`},
		{"max_submission_mib = lots", `line 1: max_submission_mib: "lots" is not a whole number`},
		{"max_submission_mib = 0", "line 1: max_submission_mib: 0 is out of range"},
		{"retention_days = -1", "line 1: retention_days: -1 is out of range"},
		{"publish_key_fingerprints = true", `line 1: publish_key_fingerprints: "true" is neither yes nor no`},
		{"intake_listen = 0.0.0.0:8080", "only loopback addresses"},
		{"imap_listen = 192.168.1.2:143", "only loopback addresses"},
		{"smtp_listen = localhost", "is not host:port"},
		{"smtp_listen = 127.0.0.1:99999", "bad port"},
		{"mail_domain = Example..com", "not a lower-case domain"},
		{"source_kdf_version = 2", "out of range 1..1"},
		{"source_kdf_threads = 0", "parameters out of range: threads 0"},
		{"source_kdf_time = 0", "parameters out of range: time 0"},
		{"password_kdf_memory_kib = 4", "parameters out of range: memory 4 KiB"},
		{"languages = en, en", "listed twice"},
		{"languages = english!", "not a language tag"},
		{"log_level = loud", "not one of"},
		{"organisation =", "must be 1..200"},
		{"organisation = a\x01b", "control characters"},
		{"tor_extra =", "empty line"},
		{"mail_domain = \xff", "not valid UTF-8"},
		{strings.Repeat("x", maxLine+10), "longer than"},
	}
	for _, tc := range cases {
		_, err := Parse(strings.NewReader(tc.in))
		if err == nil {
			t.Errorf("%q: no error", tc.in)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %q, want it to contain %q", tc.in, err, tc.want)
		}
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: error %v does not wrap ErrSyntax", tc.in, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: error is not one line: %q", tc.in, err)
		}
	}
}

func TestWriteFileRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	if err := Default().WriteFile(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	c := Default()
	c.Organisation = "other"
	if err := c.WriteFile(dir); err == nil {
		t.Fatal("second WriteFile succeeded")
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Organisation != "Postern" {
		t.Fatalf("file was overwritten: %q", got.Organisation)
	}
}

func TestLoadNamesFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, FileName), []byte("x = 1\n"), 0o600)
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, FileName)+": line 1") {
		t.Fatalf("err = %v", err)
	}
}

// FuzzParse: the parser never panics, and whatever it accepts survives a
// write/parse round trip unchanged.
func FuzzParse(f *testing.F) {
	var b bytes.Buffer
	Default().Write(&b)
	f.Add(b.String())
	f.Add("tor_extra = a\ntor_extra = b\n")
	f.Add("languages = en,de , fr\norganisation = =#=\n")
	f.Add("source_kdf_memory_kib = 8192\nsource_kdf_threads = 1\n")
	f.Add("intake_listen = [::1]:80\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := c.Write(&out); err != nil {
			t.Fatalf("accepted config does not write: %v", err)
		}
		c2, err := Parse(&out)
		if err != nil {
			t.Fatalf("written config does not parse: %v\n%s", err, out.String())
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip changed config:\n%+v\n%+v", c, c2)
		}
	})
}

// The defaults written at init are the KDF package's own defaults.
func TestDefaultKDFMatchesKDFPackage(t *testing.T) {
	d := Default()
	if kdf.Params(d.SourceKDF) != kdf.DefaultSourceParams() {
		t.Errorf("source KDF default %v, kdf package %v", d.SourceKDF, kdf.DefaultSourceParams())
	}
	if kdf.Params(d.PasswordKDF) != kdf.DefaultPasswordParams() {
		t.Errorf("password KDF default %v, kdf package %v", d.PasswordKDF, kdf.DefaultPasswordParams())
	}
}
