package e2e_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postern/mailbox/pgp/pgptest"
)

// TestManifestSignedAndServed protects the signed manifest: exported by
// the real relay, signed with a real gpg key, published, served at
// /manifest.asc where gpg verifies it, explained at /verify; one signed by
// another key or describing another instance is refused; relay status
// warns once the instance no longer matches; an expired one is shown to
// sources as expired.
func TestManifestSignedAndServed(t *testing.T) {
	in := newInstance(t, cheapConf+"canary_statement = No secret order has reached us.\n")
	dir := t.TempDir()
	file := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	g := pgptest.NewGPG(t)
	org := g.GenKey("The Daily Example <keys@daily.example>", "ed25519", "sign", "never")
	other := g.GenKey("Someone Else <x@else.example>", "ed25519", "sign", "never")
	orgKey := file("org.asc", g.Run(nil, "--armor", "--export", org))
	sign := func(name string, manifest []byte, by string) string {
		return file(name, g.Run(manifest, "--clearsign", "--local-user", by))
	}
	publish := func(in2, key string) (string, error) {
		cmd := exec.Command(relayBin, "manifest", "publish", "--in", in2, "--org-key", key, "--data", in.dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	exported := filepath.Join(dir, "manifest.json")
	run(t, nil, "manifest", "export", "--out", exported, "--data", in.dir)
	raw, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("export: %v\n%s", err, raw)
	}
	if m["canary"] != "No secret order has reached us." || m["date"] != time.Now().UTC().Format(time.DateOnly) ||
		!strings.Contains(string(raw), strings.ToUpper(in.key.PrimaryKey.KeyIdString())) {
		t.Fatalf("export lacks the canary, today's date or the journalist's key:\n%s", raw)
	}

	// Refused: signed by another key; describing another instance.
	if out, err := publish(sign("other.asc", raw, other), orgKey); err == nil {
		t.Fatalf("a manifest signed by another key was published: %s", out)
	}
	forged := strings.Replace(string(raw), `"newsroom"`, `"newsroom2"`, 1)
	if out, err := publish(sign("forged.asc", []byte(forged), org), orgKey); err == nil || !strings.Contains(out, "does not describe this instance") {
		t.Fatalf("a manifest of another instance was published: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(in.dir, "manifest.asc")); err == nil {
		t.Fatal("a refused manifest was stored")
	}

	signed := sign("manifest.asc", raw, org)
	if out, err := publish(signed, orgKey); err != nil {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	p := startRelay(t, in, &syncBuf{})
	served := get(t, p.intakeURL()+"/manifest.asc")
	if want, _ := os.ReadFile(signed); served != string(want) {
		t.Fatalf("/manifest.asc is not the published manifest:\n%s", served)
	}
	verifier := pgptest.NewGPG(t)
	verifier.Run([]byte(readFile(t, orgKey)), "--import")
	if _, stderr, err := verifier.RunErr([]byte(served), "--verify"); err != nil || !strings.Contains(string(stderr), "Good signature") {
		t.Fatalf("gpg --verify of /manifest.asc: %v\n%s", err, stderr)
	}
	page := get(t, p.intakeURL()+"/verify")
	if !strings.Contains(page, org) || strings.Contains(page, "EXPIRED") {
		t.Fatalf("/verify lacks the organisation key's fingerprint %s or says expired:\n%s", org, page)
	}
	if w := statusWarnings(t, in); strings.Contains(w, "manifest") {
		t.Fatalf("status warns about a fresh, matching manifest: %s", w)
	}

	// A new journalist key: the published manifest no longer matches.
	pub := pgptest.NewGPG(t)
	fpr := pub.GenKey("Max <max@daily.example>", "future-default", "default", "never")
	run(t, pub.Run(nil, "--armor", "--export", fpr), "journalist", "add", "max", "--key", "-", "--data", in.dir)
	if w := statusWarnings(t, in); !strings.Contains(w, "no longer matches") {
		t.Fatalf("status does not warn about a manifest that no longer matches: %s", w)
	}

	// An old manifest is shown to sources as expired.
	var old map[string]any
	json.Unmarshal(raw, &old)
	old["date"] = time.Now().UTC().AddDate(0, 0, -40).Format(time.DateOnly)
	oldRaw, _ := json.MarshalIndent(old, "", "  ")
	if out, err := publish(sign("old.asc", oldRaw, org), orgKey); err == nil {
		t.Fatalf("a 40-day-old manifest was published: %s", out)
	}
	if err := os.WriteFile(filepath.Join(in.dir, "manifest.asc"), []byte(readFile(t, sign("old2.asc", oldRaw, org))), 0o600); err != nil {
		t.Fatal(err)
	}
	if page := get(t, p.intakeURL()+"/verify"); !strings.Contains(page, "EXPIRED") {
		t.Fatalf("/verify does not show an old manifest as expired:\n%s", page)
	}
	if w := statusWarnings(t, in); !strings.Contains(w, "older than manifest_max_age_days") {
		t.Fatalf("status does not warn about an old manifest: %s", w)
	}
	p.stop(t)
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func statusWarnings(t *testing.T, in *instance) string {
	t.Helper()
	var st struct {
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal(run(t, nil, "status", "--json", "--data", in.dir), &st); err != nil {
		t.Fatal(err)
	}
	return strings.Join(st.Warnings, "\n")
}
