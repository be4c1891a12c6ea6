package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestTemplateUpToDate fails when the committed .pot differs from what the
// code says: run make pot.
func TestTemplateUpToDate(t *testing.T) {
	got, err := generate("../../intake/web")
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("../../intake/web/locales/postern.pot")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, have) {
		t.Fatal("intake/web/locales/postern.pot is out of date: run make pot")
	}
	for _, want := range []string{"msgctxt \"landing.title\"\n", "msgid_plural \"Up to %d characters.\"\n", "#: templates/landing.html"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("template lacks %q", want)
		}
	}
}

// TestUnknownKeyFails: a template using a key without English text is an
// error, not a silent hole in every catalogue.
func TestUnknownKeyFails(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../intake/web/messages_en.go")
	if err != nil {
		t.Fatal(err)
	}
	os.Mkdir(dir+"/templates", 0o755)
	os.WriteFile(dir+"/messages_en.go", src, 0o644)
	os.WriteFile(dir+"/templates/x.html", []byte(`{{.T "no.such.key"}}`), 0o644)
	if _, err := generate(dir); err == nil || !strings.Contains(err.Error(), "no.such.key") {
		t.Fatalf("err = %v", err)
	}
}
