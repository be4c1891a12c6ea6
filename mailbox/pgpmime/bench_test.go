package pgpmime

import (
	"bytes"
	"crypto/rand"
	"io"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgp"
)

func BenchmarkWriter(b *testing.B) {
	reply, err := pgp.DeriveKey(bytes.Repeat([]byte{1}, 32), "src <src@relay.example>")
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	_, _ = rand.Read(chunk)
	b.SetBytes(16 << 20)
	for b.Loop() {
		w, err := NewWriter(io.Discard, []*openpgp.Entity{reply}, Header{FromName: "a", FromAddr: "a@b.example", To: "c@d.example"})
		if err != nil {
			b.Fatal(err)
		}
		fw, _ := w.File("big", "")
		for range 16 {
			if _, err := fw.Write(chunk); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
