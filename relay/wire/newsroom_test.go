package wire

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"postern/relay/admin"
	"postern/relay/config"
)

// TestNewsroomTextFile: newsroom_text_file, relative to the data
// directory, reaches the form; a broken one stops the relay with the line.
func TestNewsroomTextFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "inst")
	cfg := config.Default()
	cfg.SourceKDF = config.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}
	cfg.NewsroomTextFile = "newsroom.txt"
	a, err := admin.Init(dir, cfg, admin.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	os.WriteFile(filepath.Join(dir, "newsroom.txt"), []byte("[fr]\nname = Le Quotidien\n"), 0o600)
	got, err := newsroomText(a)
	if err != nil || got["fr"].Name != "Le Quotidien" {
		t.Fatalf("%+v, %v", got, err)
	}
	os.WriteFile(filepath.Join(dir, "newsroom.txt"), []byte("[fr]\ncolour = red\n"), 0o600)
	if _, err := Services(a, Options{}); err == nil || !strings.Contains(err.Error(), "newsroom_text_file") || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("broken file: %v", err)
	}
}
