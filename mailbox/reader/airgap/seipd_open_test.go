package airgap_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"

	"postern/mailbox/pgp"
	"postern/mailbox/pgp/pgptest"
)

// attachmentMIME is an inner PGP/MIME entity with a text and one attachment.
func attachmentMIME(name string, data []byte) string {
	return "Content-Type: multipart/mixed; boundary=\"X\"\r\n\r\n--X\r\nContent-Type: text/plain\r\n\r\nsee the file\r\n" +
		"--X\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"" + name + "\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString(data) + "\r\n--X--\r\n"
}

// TestOpenRefusesAnyFlippedBit: one bit flipped anywhere in the binary
// OpenPGP message (session key packet, packet headers, the encrypted
// prefix, data and MDC) makes that message fail with one line, and no file
// of it is placed.
func TestOpenRefusesAnyFlippedBit(t *testing.T) {
	j := key(t, "jane")
	a := newSource(t, "quixotic tangerine")
	data := make([]byte, 3000)
	rand.NewChaCha8([32]byte{3}).Read(data)
	inner := attachmentMIME("report.pdf", data)
	var size int
	rawMessageMangled(t, []*openpgp.Entity{j}, a, "m0@"+domain, inner, func(b []byte) { size = len(b) })
	var positions []int
	for i := 0; i < size; i += 1 + size/150 {
		positions = append(positions, i)
	}
	for i := max(0, size-48); i < size; i++ { // the end of the data and the MDC
		positions = append(positions, i)
	}
	h := newHome(t)
	for n, pos := range positions {
		h.put("INBOX", n+1, rawMessageMangled(t, []*openpgp.Entity{j}, a, fmt.Sprintf("m%d@%s", n+1, domain), inner,
			func(b []byte) { b[pos] ^= 1 << (pos % 8) }))
	}
	stick, out := t.TempDir(), t.TempDir()
	h.export(stick)
	sum, lines := open(t, stick, out, j)
	if sum.Opened != 0 || sum.Failed != len(positions) || len(lines) != len(positions) {
		t.Fatalf("%d bits flipped: summary %+v, report %q", len(positions), sum, lines)
	}
	for _, l := range lines {
		if !strings.Contains(l, "not opened: ") {
			t.Fatalf("report line %q", l)
		}
	}
	if placed, _ := filepath.Glob(filepath.Join(out, "*", "files", "*")); len(placed) != 0 {
		t.Fatalf("files of damaged messages placed: %v", placed)
	}
	if left, _ := filepath.Glob(filepath.Join(out, ".postern", "stage-*")); len(left) != 0 {
		t.Fatalf("staging folders left: %v", left)
	}
}

// TestOpenMessagesOtherToolsWrote: what gpg, rnp and sq encrypt to the
// journalist's key (their own choice of packets, framing and cipher) opens,
// the attachment byte for byte, a small one and one of 300 KiB.
func TestOpenMessagesOtherToolsWrote(t *testing.T) {
	j := key(t, "jane")
	pub, err := pgp.Armor(j)
	if err != nil {
		t.Fatal(err)
	}
	small, large := make([]byte, 5000), make([]byte, 300<<10)
	rand.NewChaCha8([32]byte{5}).Read(small)
	rand.NewChaCha8([32]byte{6}).Read(large)
	for _, tool := range []string{"gpg", "rnp", "sq"} {
		t.Run(tool, func(t *testing.T) {
			a := newSource(t, "quixotic tangerine")
			h := newHome(t)
			for i, data := range [][]byte{small, large} {
				armored := encryptWith(t, tool, pub, []byte(attachmentMIME(fmt.Sprintf("doc%d.bin", i), data)))
				h.put("INBOX", i+1, armoredMessage(a, fmt.Sprintf("%s%d@%s", tool, i, domain), armored))
			}
			stick, out := t.TempDir(), t.TempDir()
			h.export(stick)
			if sum, lines := open(t, stick, out, j); sum.Opened != 2 || len(lines) != 0 {
				t.Fatalf("summary %+v, report %q", sum, lines)
			}
			for i, data := range [][]byte{small, large} {
				got, err := os.ReadFile(filepath.Join(out, "quixotic-tangerine", "files", fmt.Sprintf("doc%d.bin", i)))
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("doc%d.bin: %v, %d bytes, want %d", i, err, len(got), len(data))
				}
			}
		})
	}
}

// encryptWith encrypts plain to the armored public key pub with tool.
func encryptWith(t *testing.T, tool string, pub, plain []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	pubPath := filepath.Join(dir, "pub.asc")
	if err := os.WriteFile(pubPath, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	switch tool {
	case "gpg":
		g := pgptest.NewGPG(t)
		g.Run(pub, "--import")
		return g.Run(plain, "--trust-model", "always", "--armor", "--encrypt", "--recipient", "jane@"+domain)
	case "sq":
		pgptest.NeedTool(t, "sq")
		return pgptest.Run(t, plain, "sq", "encrypt", "--recipient-cert", pubPath)
	}
	pgptest.NeedTool(t, "rnp")
	pgptest.NeedTool(t, "rnpkeys")
	home := filepath.Join(dir, "rnp")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	pgptest.Run(t, nil, "rnpkeys", "--homedir", home, "--import", pubPath)
	return pgptest.Run(t, plain, "rnp", "--homedir", home, "--encrypt", "--recipient", "jane@"+domain, "--armor", "--output", "-")
}
