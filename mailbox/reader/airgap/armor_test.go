package airgap

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// TestArmorDecodedAsGoCrypto checks that armorBody decodes an armored PGP
// MESSAGE to the same bytes as go-crypto's armor.Decode (which it replaced
// for speed), and fails where it fails: headers or none, with or without
// the checksum line or the END line, CRLF or LF, garbage before the block,
// however the input arrives.
func TestArmorDecodedAsGoCrypto(t *testing.T) {
	var cases = map[string]string{}
	for _, size := range []int{0, 1, 2, 3, 57, 1000, 70001, 300 << 10} {
		data := make([]byte, size)
		rand.NewChaCha8([32]byte{byte(size)}).Read(data)
		var b bytes.Buffer
		w, err := armor.EncodeWithChecksumOption(&b, "PGP MESSAGE", map[string]string{"Comment": "x: y"}, size%2 == 0)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
		s := b.String()
		name := string(rune('a'+len(cases)/6)) + " "
		cases[name+"LF"] = s
		cases[name+"CRLF"] = strings.ReplaceAll(s, "\n", "\r\n")
		cases[name+"garbage before"] = "Version: 1\r\n\r\n" + strings.Repeat("x", 70<<10) + "\n" + s
		cases[name+"no END"] = s[:strings.Index(s, "-----END")]
		cases[name+"no headers"] = strings.Replace(s, "Comment: x: y\n", "", 1)
		cases[name+"trailing spaces"] = strings.ReplaceAll(s, "\n", "  \n")
	}
	cases["other type"] = "-----BEGIN PGP SIGNATURE-----\n\nQUJD\n-----END PGP SIGNATURE-----\n"
	cases["no armor"] = "hello\n"
	cases["cut quantum"] = "-----BEGIN PGP MESSAGE-----\n\nQUJDRA\n-----END PGP MESSAGE-----\n"
	cases["bad header"] = "-----BEGIN PGP MESSAGE-----\nQUJD\n\nQUJD\n-----END PGP MESSAGE-----\n"
	cases["bad character"] = "-----BEGIN PGP MESSAGE-----\n\nQU*D\n-----END PGP MESSAGE-----\n"
	// What go-crypto does on odd input, which FuzzArmorAsGoCrypto found or
	// which its reading through a bufio.Reader of 100 bytes implies.
	const begin, end = "-----BEGIN PGP MESSAGE-----", "-----END PGP MESSAGE-----\n"
	b64line := strings.Repeat("QUJD", 24)
	cases["space inside a line"] = begin + "\n\nQU JD\n" + end
	cases["tab inside a line"] = begin + "\n\nQUJD\tQUJD\n" + end
	cases["unicode space ends a line"] = begin + "\n\nQUJD\u00a0\n\u2003QUJD\n" + end
	cases["dashes not END"] = begin + "\n\nQUJD\n-----ENDX\n"
	cases["BEGIN without its dashes"] = "-----BEGIN PGP MESSAGE00000\n\nQUJD\n" + end + begin + "\n\nRUZH\n" + end
	cases["BEGIN line past 100 bytes"] = begin + strings.Repeat(" ", 80) + "\n\nQUJD\n" + end
	cases["BEGIN after a long line"] = strings.Repeat("x", 100) + begin + "\n\nQUJD\n" + end
	cases["header without colon: next block"] = begin + "\nbad\n" + begin + "\n\nQUJD\n" + end
	cases["long header continued"] = begin + "\nComment: " + strings.Repeat("x:", 100) + "\n\nQUJD\n" + end
	cases["long header straddles CRLF"] = begin + "\r\nComment: " + strings.Repeat("x", 90) + "\r\n\r\nQUJD\r\n" + end
	cases["body line of 96"] = begin + "\n\n" + b64line + "\n" + end
	cases["body line of 100"] = begin + "\n\n" + b64line + "QUJD\n" + end
	cases["body line of 99 and spaces"] = begin + "\n\n" + b64line + "   \n" + end
	cases["body line of 96 and 3 spaces, CRLF"] = begin + "\r\n\r\n" + b64line + "   \r\n" + end
	cases["last line long, no line break"] = begin + "\n\n" + b64line + "    "
	cases["checksum only"] = begin + "\n\n=QUJD\nQUJD\n" + end
	for name, in := range cases {
		want, wantErr := goCryptoArmor(in)
		for _, how := range []string{"whole", "one byte", "half"} {
			var got []byte
			body, gotErr := armorBody(chunked(in, how), newScratch())
			if gotErr == nil {
				got, gotErr = io.ReadAll(body)
			}
			if (gotErr != nil) != (wantErr != nil) {
				t.Errorf("%s, read %s: error %v, go-crypto's %v", name, how, gotErr, wantErr)
				continue
			}
			if wantErr == nil && !bytes.Equal(got, want) {
				t.Errorf("%s, read %s: %d bytes differ from go-crypto's %d", name, how, len(got), len(want))
			}
		}
	}
}
