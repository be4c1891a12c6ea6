package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"

	"postern/relay/config"
)

func orgKey(t *testing.T, name string) (*openpgp.Entity, []byte) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@org.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, _ := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return e, buf.Bytes()
}

func clearsigned(t *testing.T, e *openpgp.Entity, text []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, e.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(text)
	w.Close()
	return buf.Bytes()
}

// TestPublishManifestRefusals protects what publish accepts: only the
// organisation key's signature over a manifest of this very instance,
// dated within manifest_max_age_days.
func TestPublishManifestRefusals(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default()
	cfg.CanaryStatement = "no order"
	js := []JournalistInfo{{Name: "b", Fingerprint: "bb"}, {Name: "a", Fingerprint: "aa"}}
	now := time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC)
	m, err := BuildManifest(dir, cfg, js, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.Desks[0].SubmissionKeys, ","); m.Desks[0].Name != "newsroom" || got != "AA,BB" || m.Date != "2026-12-05" {
		t.Fatalf("manifest %+v", m)
	}
	raw, _ := json.Marshal(m)
	org, orgPub := orgKey(t, "org")
	other, _ := orgKey(t, "other")

	cases := map[string][]byte{
		"another key":      clearsigned(t, other, raw),
		"another instance": clearsigned(t, org, bytes.Replace(raw, []byte(`"AA"`), []byte(`"CC"`), 1)),
		"another canary":   clearsigned(t, org, bytes.Replace(raw, []byte(`no order`), []byte(`fine`), 1)),
		"an old date":      clearsigned(t, org, bytes.Replace(raw, []byte(`2026-12-05`), []byte(`2026-10-01`), 1)),
		"a future date":    clearsigned(t, org, bytes.Replace(raw, []byte(`2026-12-05`), []byte(`2026-12-09`), 1)),
		"unknown fields":   clearsigned(t, org, bytes.Replace(raw, []byte(`{`), []byte(`{"x":1,`), 1)),
		"not signed":       raw,
	}
	for what, signed := range cases {
		if _, err := PublishManifest(dir, cfg, js, nil, signed, orgPub, now); !errors.Is(err, ErrManifest) {
			t.Errorf("%s: %v, want ErrManifest", what, err)
		}
	}
	if _, ok, err := Published(dir, cfg, js, nil, now); ok || err != nil {
		t.Fatalf("a refused manifest is published: %v %v", ok, err)
	}
	if _, err := PublishManifest(dir, cfg, js, nil, clearsigned(t, org, raw), orgPub, now); err != nil {
		t.Fatal(err)
	}
	p, ok, err := Published(dir, cfg, js, nil, now.AddDate(0, 0, 31))
	if !ok || err != nil || !p.Expired || len(p.Differences) != 0 {
		t.Fatalf("31 days on: %+v %v %v, want expired and matching", p, ok, err)
	}
	p, _, _ = Published(dir, cfg, js[:1], nil, now)
	if p.Expired || strings.Join(p.Differences, ",") != "desks and their keys" {
		t.Fatalf("a journalist fewer: %+v", p)
	}
}

// TestManifestDesksFollowTheDeskStore: the manifest lists each desk sources
// can see with its own journalists' keys, and never a hidden desk (the
// manifest is public; a hidden desk is known only through its link).
func TestManifestDesksFollowTheDeskStore(t *testing.T) {
	js := []JournalistInfo{{Name: "ana", Fingerprint: "aa"}, {Name: "bo", Fingerprint: "bb"}, {Name: "cy", Fingerprint: "cc"}}
	desks := []DeskInfo{
		{Slug: "politics", Journalists: []string{"bo"}},
		{Slug: "investigations", Journalists: []string{"cy", "ana"}},
		{Slug: "partner", Hidden: true, Journalists: []string{"cy"}},
	}
	got := ManifestDesks(js, desks)
	want := []ManifestDesk{{Name: "investigations", SubmissionKeys: []string{"AA", "CC"}}, {Name: "politics", SubmissionKeys: []string{"BB"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("desks = %+v, want %+v", got, want)
	}
	if got := ManifestDesks(js, nil); len(got) != 1 || got[0].Name != "newsroom" || len(got[0].SubmissionKeys) != 3 {
		t.Fatalf("without desk information: %+v", got)
	}
}
