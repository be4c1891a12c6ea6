package cli_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cretz/bine/torutil"
	bined "github.com/cretz/bine/torutil/ed25519"

	"postern/relay/admin"
)

// relay status shows both onion addresses while serve is stopped: they are
// fixed by the service keys in DATA/onion, which a new admin needs before
// onboarding anyone. Before the first start it says there is none yet.
func TestStatusOnionsWhileStopped(t *testing.T) {
	dir := newInstance(t)
	if out := mustRelay(t, nil, "status", "--data", dir); !strings.Contains(out, "intake onion:    (none yet") {
		t.Fatalf("status before any serve: %q", out)
	}
	want := map[string]string{}
	for _, name := range []string{"intake", "journalist"} {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		// tor's ED25519-V3 blob is the expanded secret key.
		kp := bined.FromCryptoPrivateKey(priv)
		blob := "ED25519-V3:" + base64.StdEncoding.EncodeToString(kp.PrivateKey())
		if err := os.MkdirAll(filepath.Join(dir, "onion"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "onion", name+".key"), []byte(blob+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		want[name] = torutil.OnionServiceIDFromV3PublicKey(bined.FromCryptoPublicKey(pub)) + ".onion"
	}
	var st admin.Status
	if err := json.Unmarshal([]byte(mustRelay(t, nil, "status", "--json", "--data", dir)), &st); err != nil {
		t.Fatal(err)
	}
	if st.Running || st.IntakeOnion != want["intake"] || st.JournalistOnion != want["journalist"] {
		t.Fatalf("status --json: intake %q journalist %q, want %v", st.IntakeOnion, st.JournalistOnion, want)
	}
	out := mustRelay(t, nil, "status", "--data", dir)
	if !strings.Contains(out, "intake onion:    "+want["intake"]) || !strings.Contains(out, "journalist onion: "+want["journalist"]) {
		t.Fatalf("status: %q", out)
	}
}
