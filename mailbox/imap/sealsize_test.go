package imapd

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/emersion/go-imap/v2"

	"postern/mailbox/imap/structure"
	"postern/tools/corpus"
)

// A large APPENDed message (mostly a base64 attachment) is sealed with
// Huffman-only compression: stored at about its own size (level 1 stored
// the base64 as it was, 1.34 times the plaintext once armored), and it
// still decrypts to exactly what was appended. A small one decrypts too.
func TestSealLargeAppendHuffmanOnly(t *testing.T) {
	key, err := testJournalistKey("alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{6 << 10, 300 << 10} {
		msg := corpus.PlainMessage(3, size)
		br := bufio.NewReaderSize(bytes.NewReader(msg), 64<<10)
		raw, err := readRawHeader(br)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := seal(&out, key, parseHeader(raw), raw, br, int64(len(msg)), nil); err != nil {
			t.Fatal(err)
		}
		if ratio := float64(out.Len()) / float64(len(msg)); size > sealHuffmanOnly && ratio > 1.10 {
			t.Errorf("%d bytes sealed to %.2f times their size: the base64 was not Huffman-coded", len(msg), ratio)
		}
		st, err := structure.Compute(bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		sec, _ := st.Locate(&imap.FetchItemBodySection{Part: []int{2}})
		blk, err := armor.Decode(bytes.NewReader(out.Bytes()[sec.Range.Start:sec.Range.End]))
		if err != nil {
			t.Fatal(err)
		}
		md, err := openpgp.ReadMessage(blk.Body, openpgp.EntityList{key}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(md.UnverifiedBody)
		if err != nil || !bytes.Equal(plain, msg) {
			t.Fatalf("%d bytes: decrypted %d bytes (%v), not the message", len(msg), len(plain), err)
		}
	}
}
