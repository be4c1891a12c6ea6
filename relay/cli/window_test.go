package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeliveryWindowDefault: an instance made by relay init batches
// deliveries (10 minutes) unless its settings say otherwise; relay status
// shows the pending count.
func TestDeliveryWindowDefault(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed.conf")
	noWindow := strings.Replace(smallConf, "delivery_window_minutes = 0\n", "", 1)
	if err := os.WriteFile(seed, []byte(noWindow), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "d")
	if r := relay(t, nil, "init", "--data", data, "--config", seed); r.code != 0 {
		t.Fatalf("init: %s", r.stderr)
	}
	r := relay(t, nil, "status", "--data", data, "--json")
	var st struct {
		Pending *int `json:"pending"`
		Window  int  `json:"delivery_window_minutes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.Pending == nil || *st.Pending != 0 || st.Window != 10 {
		t.Fatalf("status: %v %s", err, r.stdout)
	}
	if r := relay(t, nil, "status", "--data", data); !strings.Contains(r.stdout, "pending:         0 submission(s), released every 10 minutes") {
		t.Errorf("status does not show the pending count:\n%s", r.stdout)
	}
}
