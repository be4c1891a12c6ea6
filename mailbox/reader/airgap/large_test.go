package airgap_test

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgpmime"
)

// largeSize is the attachment of TestLargeAttachmentMemoryFlat: 512 MiB, a
// bound well above any buffer (the heap grew by 2 MiB for 2 GiB when run
// with POSTERN_LARGE_MIB=2048, which takes minutes on a shared machine).
func largeSize() int64 {
	if n, err := strconv.Atoi(os.Getenv("POSTERN_LARGE_MIB")); err == nil && n > 0 {
		return int64(n) << 20
	}
	return 512 << 20
}

// TestLargeAttachmentMemoryFlat opens a message with a large attachment and
// checks that the heap stays flat (the file streams from the ciphertext to
// files/) and that the file arrives byte for byte. It runs in make test's
// second pass (no -race, which slows OpenPGP fifteenfold).
func TestLargeAttachmentMemoryFlat(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("hundreds of MiB through OpenPGP: run without -race and -short (make test's ^TestLarge pass)")
	}
	j := key(t, "jane")
	a := newSource(t, "quixotic tangerine")
	h := newHome(t)
	dir := filepath.Join(h.dir, "maildir", "INBOX", "cur")
	os.MkdirAll(dir, 0o700)
	f, err := os.Create(filepath.Join(dir, "1700000000-1:2,"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := pgpmime.NewWriter(f, []*openpgp.Entity{j}, pgpmime.Header{FromName: a.designation, FromAddr: a.addr,
		To: "newsroom@" + domain, MessageID: "big@" + domain, Autocrypt: a.key})
	if err != nil {
		t.Fatal(err)
	}
	w.Text("a video")
	fw, err := w.File("video.mp4", "video/mp4")
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.New()
	src := io.LimitReader(rand.NewChaCha8([32]byte{7}), largeSize())
	if _, err := io.Copy(io.MultiWriter(fw, want), src); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	stick, out := t.TempDir(), t.TempDir()
	h.export(stick)
	os.RemoveAll(h.dir) // keep the disk use to the stick and the output

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.HeapInuse
	stop, peak := make(chan struct{}), make(chan uint64)
	go func() {
		var p uint64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				peak <- p
				return
			case <-tick.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				p = max(p, m.HeapInuse)
			}
		}
	}()
	sum, lines := open(t, stick, out, j)
	close(stop)
	grew := int64(<-peak) - int64(before)
	if sum.Opened != 1 || len(lines) != 0 {
		t.Fatalf("summary %+v, report %q", sum, lines)
	}
	if grew > 32<<20 {
		t.Fatalf("the heap grew by %d MiB while opening a %d MiB attachment", grew>>20, largeSize()>>20)
	}
	got, err := os.Open(filepath.Join(out, "quixotic-tangerine", "files", "video.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	gs := sha256.New()
	if _, err := io.Copy(gs, got); err != nil {
		t.Fatal(err)
	}
	if string(gs.Sum(nil)) != string(want.Sum(nil)) {
		t.Fatal("video.mp4 differs from what the source sent")
	}
	t.Logf("heap grew by %d MiB while opening %d MiB", grew>>20, largeSize()>>20)
}
