package admin

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"postern/mailbox/pgp"
	"postern/mailbox/store"
)

// TestLapsedKeyReportedNotPerSubmission: a journalist whose key lapsed is
// named by the report (start-up, daily, shutdown) and by status, in text and
// JSON, and what the services counted reaches the report once, without a
// time, and then starts afresh; status keeps the totals.
func TestLapsedKeyReportedNotPerSubmission(t *testing.T) {
	var logs bytes.Buffer
	dir := filepath.Join(t.TempDir(), "inst")
	a, err := Init(dir, testConfig(), InitOptions{Options: Options{
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	if _, err := a.JournalistAdd(ctx, "jane", curveKey(t)); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	k, err := openpgp.NewEntity("Lapsed", "", "lapsed@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA,
		KeyLifetimeSecs: 3600, Time: func() time.Time { return now.Add(-48 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	// Revoked, expired: any reason the key rules refuse. No KeyExpires is
	// recorded, so only the key check can find it.
	if err := a.Store().AddJournalist(store.Journalist{Name: "lapsed", PublicKey: pgp.Serialize(k), Fingerprint: "F1"}); err != nil {
		t.Fatal(err)
	}
	a.Tally().Add("intake: submission failed", errors.New("disk full"))
	a.Tally().Add("intake: submission failed", errors.New("disk full"))

	logs.Reset()
	a.Report()
	out := logs.String()
	for _, want := range []string{"journalist=lapsed", `event="intake: submission failed" count=2`, "lapsed_keys=1 events=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "journalist=jane") {
		t.Errorf("report names a journalist whose key is fine:\n%s", out)
	}
	logs.Reset()
	a.Report()
	if strings.Contains(logs.String(), "event=") {
		t.Errorf("a second report repeats what the first one told:\n%s", logs.String())
	}

	st, err := a.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.LapsedKeys) != 1 || st.LapsedKeys[0].Journalist != "lapsed" {
		t.Errorf("status lapsed keys %+v", st.LapsedKeys)
	}
	if len(st.Events) != 1 || st.Events[0].Count != 2 || st.Events[0].LastError != "disk full" {
		t.Errorf("status events %+v", st.Events)
	}
	warned := strings.Join(st.Warnings, "\n")
	for _, want := range []string{"journalist lapsed: key F1 is no longer usable", "intake: submission failed, 2 times; last error: disk full"} {
		if !strings.Contains(warned, want) {
			t.Errorf("status warnings lack %q:\n%s", want, warned)
		}
	}
}
