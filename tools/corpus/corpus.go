// Package corpus is the realistic message-size mix every mailbox benchmark
// and large-mailbox test uses, so that they all measure the same mail: most
// newsroom mail is 2–20 KiB, some 100 KiB–1 MiB, a few 5 MiB. A corpus of
// small messages alone flattered the relay (docs/benchmarks.md).
package corpus

import (
	crand "crypto/rand"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
)

// Size classes of the mix.
const (
	SmallMin  = 2 << 10
	SmallMax  = 20 << 10
	MediumMin = 100 << 10
	MediumMax = 1 << 20
	Large     = 5 << 20
)

// Sizes returns n message sizes in bytes: 85% 2–20 KiB, 14% 100 KiB–1 MiB,
// 1% 5 MiB (proportions exact for n a multiple of 100), shuffled with a
// fixed seed so that every run and every server gets the same sequence.
func Sizes(n int) []int {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := make([]int, n)
	for i := range sizes {
		switch p := i * 100 / n; {
		case p < 85:
			sizes[i] = SmallMin + r.IntN(SmallMax-SmallMin)
		case p < 99:
			sizes[i] = MediumMin + r.IntN(MediumMax-MediumMin)
		default:
			sizes[i] = Large
		}
	}
	r.Shuffle(n, func(i, j int) { sizes[i], sizes[j] = sizes[j], sizes[i] })
	return sizes
}

// Total is the sum of sizes.
func Total(sizes []int) int64 {
	var t int64
	for _, s := range sizes {
		t += int64(s)
	}
	return t
}

// PlainMessage is mail number i of about size bytes as a client APPENDs it
// (a Sent or Drafts copy): plaintext headers, a short note, and past the
// first few KiB a base64 attachment of random bytes.
func PlainMessage(i, size int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Jane <jane@newsroom.example>\r\nTo: source@postern.local\r\nSubject: note %d\r\n", i)
	fmt.Fprintf(&b, "Date: Sun, 29 Nov 2026 00:00:00 +0000\r\nMessage-ID: <n%d@newsroom.example>\r\nMIME-Version: 1.0\r\n", i)
	b.WriteString("Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(strings.Repeat("Thank you for the documents; we are reading them.\r\n", 20))
	b.WriteString("--b\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	raw := make([]byte, max(0, size-b.Len()-64)*3/4)
	crand.Read(raw)
	enc := base64.StdEncoding.EncodeToString(raw)
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n--b--\r\n")
	return []byte(b.String())
}
