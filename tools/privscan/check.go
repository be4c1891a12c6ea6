package privscan

import (
	"testing"

	"postern/mailbox/store"
)

// Check is the helper end-to-end tests call once the relay has stopped: it
// checks the file times of everything in dataDir first (reading would move
// access times), scans every file of dataDir (raw, before the store is
// opened, so start-up clean-up cannot hide anything), the logs, and then the
// dates through the store API, and fails t with one line per hit. It returns
// the number of hits so a test can assert that the scan saw what it planted
// elsewhere.
func Check(t testing.TB, dataDir string, logs []byte, o Options) int {
	t.Helper()
	hits, err := FileTimes(dataDir, o.SkipTimes)
	if err != nil {
		t.Fatalf("privscan: %v", err)
	}
	dh, err := Dir(dataDir, o)
	if err != nil {
		t.Fatalf("privscan: %v", err)
	}
	hits = append(hits, dh...)
	hits = append(hits, Bytes("logs", logs, o)...)
	st, err := store.Open(dataDir, store.Options{})
	if err != nil {
		t.Fatalf("privscan: %v", err)
	}
	defer st.Close()
	dh, err = StoreDates(st)
	if err != nil {
		t.Fatalf("privscan: %v", err)
	}
	hits = append(hits, dh...)
	for _, h := range hits {
		t.Errorf("privscan: %s", h)
	}
	return len(hits)
}
