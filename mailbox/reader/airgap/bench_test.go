package airgap_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/reader/airgap"
	"postern/tools/corpus"
)

// BenchmarkOpen opens 200 submissions of the realistic size mix (a text
// and, past 4 KiB, a random attachment), as row (k) of tools/bench does.
func BenchmarkOpen(b *testing.B) {
	j := key(b, "jane")
	var srcs []src
	for i := range 10 {
		srcs = append(srcs, newSource(b, fmt.Sprintf("source %d", i)))
	}
	h := newHome(b)
	for i, size := range corpus.Sizes(200) {
		text := min(size, 2<<10)
		var files []file
		if size > 4<<10 {
			data := make([]byte, size-text)
			rand.NewChaCha8([32]byte{byte(i), byte(i >> 8)}).Read(data)
			files = append(files, file{name: fmt.Sprintf("document-%d.pdf", i), data: data})
		}
		s := srcs[i%len(srcs)]
		h.put("INBOX", i+1, submission(b, []*openpgp.Entity{j}, s, fmt.Sprintf("m%d@%s", i, domain), "s",
			strings.Repeat("the source wrote this line. ", text/27+1)[:text], files...))
	}
	stick := b.TempDir()
	h.export(stick)
	for b.Loop() {
		out := filepath.Join(b.TempDir(), "out")
		sum, err := airgap.Open(b.Context(), airgap.Options{From: stick, Out: out, Keys: []*openpgp.Entity{j}, NoClean: true})
		if err != nil || sum.Opened != 200 {
			b.Fatal(sum, err)
		}
	}
}
