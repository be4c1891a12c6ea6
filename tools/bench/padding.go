package main

import (
	"bytes"
	crand "crypto/rand"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgp"
	"postern/mailbox/pgpmime"
	"postern/tools/corpus"
)

// benchPadding measures what the Padmé padding of stored messages costs:
// 1,000 submissions of the realistic mix (tools/corpus), each a note and
// an attachment, written as the relay stores them to two journalists, and
// their padded length over the length they would have without padding.
func benchPadding(journalists int) (row, error) {
	var to []*openpgp.Entity
	for i := range max(1, journalists) {
		k, err := pgp.DeriveKey(bytes.Repeat([]byte{byte(i + 1)}, 32), fmt.Sprintf("j%d <j%d@newsroom.example>", i, i))
		if err != nil {
			return row{}, err
		}
		to = append(to, k)
	}
	note := strings.Repeat("I work in the ministry's procurement office. The attached file shows the contract.\n", 8)
	var sum, worst float64
	sizes := corpus.Sizes(1000)
	for i, size := range sizes {
		var out countBytes
		w, err := pgpmime.NewWriter(&out, to, pgpmime.Header{FromName: "quixotic tangerine",
			FromAddr: "quixotic.tangerine@relay.example", To: "Newsroom <newsroom@relay.example>",
			Subject: fmt.Sprintf("submission %d", i)})
		if err != nil {
			return row{}, err
		}
		if err := w.Text(note); err != nil {
			return row{}, err
		}
		fw, err := w.File("document.pdf", "application/pdf")
		if err != nil {
			return row{}, err
		}
		if _, err := io.CopyN(fw, crand.Reader, int64(max(0, size-len(note)))); err != nil {
			return row{}, err
		}
		if err := w.Close(); err != nil {
			return row{}, err
		}
		over := float64(int64(out)-w.Unpadded()) / float64(w.Unpadded())
		sum += over
		worst = max(worst, over)
	}
	mean := sum / float64(len(sizes))
	return row{"(p) Padmé padding of stored messages, over 1,000 realistic submissions",
		fmt.Sprintf("mean %.2f%%, max %.2f%%", 100*mean, 100*worst),
		"mean ≤ 6%, max ≤ 12%", verdict(mean <= 0.06 && worst <= 0.12)}, nil
}

type countBytes int64

func (c *countBytes) Write(b []byte) (int, error) { *c += countBytes(len(b)); return len(b), nil }
