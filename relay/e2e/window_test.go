package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"postern/tools/sourceclient"
)

// TestDeliveryWindowSurvivesSIGKILL: with a delivery window, submissions
// the sources saw acknowledged wait in no mailbox (relay status counts
// them), survive a SIGKILL of the real relay, and arrive whole once the
// relay runs again with the window turned off.
func TestDeliveryWindowSurvivesSIGKILL(t *testing.T) {
	in := newInstance(t, strings.Replace(cheapConf, "delivery_window_minutes = 0", "delivery_window_minutes = 1440", 1))
	logs := &syncBuf{}
	p := startRelay(t, in, logs)
	const n = 3
	for i := range n {
		c := sourceclient.New(p.intakeURL(), nil)
		if _, err := c.NewCodename(ctx(t, time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := c.Submit(ctx(t, time.Minute), "windowed", fmt.Sprintf("window-marker-%d", i)); err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	if ms, _ := inbox(t, p, in); len(ms) != 0 {
		t.Fatalf("%d messages in INBOX during the window", len(ms))
	}
	var st struct {
		Pending int `json:"pending"`
	}
	if err := json.Unmarshal(run(t, nil, "status", "--json", "--data", in.dir), &st); err != nil || st.Pending != n {
		t.Fatalf("relay status: pending %d (%v), want %d", st.Pending, err, n)
	}
	p.kill()

	conf := filepath.Join(in.dir, "postern.conf")
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), "delivery_window_minutes = 1440", "delivery_window_minutes = 0", 1))
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p = startRelay(t, in, logs)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ms, _ := inbox(t, p, in)
		if len(ms) == n {
			seen := map[string]bool{}
			for _, m := range ms {
				seen[strings.TrimSpace(m.Dec.Text)] = true
			}
			for i := range n {
				if !seen[fmt.Sprintf("window-marker-%d", i)] {
					t.Errorf("submission %d lost across the SIGKILL: %v", i, seen)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d submissions after the restart\n%s", len(ms), n, logs.Bytes())
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.stop(t)
}
