package transfer_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"postern/mailbox/reader/transfer"
)

func put(t *testing.T, home, mailbox, name, body string) {
	t.Helper()
	d := filepath.Join(home, "maildir", mailbox, "cur")
	os.MkdirAll(d, 0o700)
	if err := os.WriteFile(filepath.Join(d, name), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestExportCarriesOnlyWhatIsNew: a second export carries only the new
// message, in a later-numbered batch, under FAT-safe names; what is not a
// synced message (a temp file, another name) is left alone.
func TestExportCarriesOnlyWhatIsNew(t *testing.T) {
	home, stick := t.TempDir(), t.TempDir()
	put(t, home, "INBOX", "7-1:2,", "one")
	put(t, home, "Sent", "9-1:2,S", "reply")
	put(t, home, "INBOX", ".tmp-7-2", "half")
	first, err := transfer.Export(home, stick)
	if err != nil || first.Messages != 2 {
		t.Fatalf("first export: %+v %v", first, err)
	}
	if again, err := transfer.Export(home, stick); err != nil || again.Messages != 0 || again.Batch != "" {
		t.Fatalf("export with nothing new: %+v %v", again, err)
	}
	put(t, home, "INBOX", "7-2:2,", "two")
	second, err := transfer.Export(home, stick)
	if err != nil || second.Messages != 1 {
		t.Fatalf("second export: %+v %v", second, err)
	}
	batches, _ := transfer.Batches(stick)
	if len(batches) != 2 || batches[0] != first.Batch || batches[1] != second.Batch {
		t.Fatalf("batches %v, want %s then %s", batches, first.Batch, second.Batch)
	}
	m, err := transfer.ReadManifest(second.Batch)
	if err != nil || len(m.Messages) != 1 || m.Messages[0].Name != "INBOX-7-2.eml" {
		t.Fatalf("manifest %+v %v", m, err)
	}
	if strings.ContainsAny(m.Messages[0].Name, `:*?"<>|\`) {
		t.Fatalf("name %q is not FAT-safe", m.Messages[0].Name)
	}
	if err := transfer.Check(second.Batch, m.Messages[0]); err != nil {
		t.Fatal(err)
	}
}

// TestBatchWithoutManifestIsRefused: an export cut before its manifest
// leaves a batch the other side refuses.
func TestBatchWithoutManifestIsRefused(t *testing.T) {
	home, stick := t.TempDir(), t.TempDir()
	put(t, home, "INBOX", "7-1:2,", "one")
	res, err := transfer.Export(home, stick)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(res.Batch, transfer.ManifestFile))
	if _, err := transfer.ReadManifest(res.Batch); !errors.Is(err, transfer.ErrManifest) {
		t.Fatalf("err = %v", err)
	}
}
