package airgap

import (
	"bytes"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

// TestBase64BodyDecodedAsGoMessage checks that b64Reader decodes a base64
// body to the same bytes as go-message (which it replaced for speed), and
// fails where go-message fails, whatever the line length, line ending,
// stray whitespace or how the input arrives.
func TestBase64BodyDecodedAsGoMessage(t *testing.T) {
	data := make([]byte, 200<<10)
	rand.NewChaCha8([32]byte{1}).Read(data)
	enc := base64.StdEncoding.EncodeToString(data)
	wrap := func(s string, n int, eol string) string {
		var b strings.Builder
		for len(s) > n {
			b.WriteString(s[:n] + eol)
			s = s[n:]
		}
		return b.String() + s + eol
	}
	cases := map[string]string{
		"76 CRLF":            wrap(enc, 76, "\r\n"),
		"76 LF":              wrap(enc, 76, "\n"),
		"odd lines":          wrap(enc, 73, "\r\n"),
		"one line":           enc,
		"padding":            wrap(base64.StdEncoding.EncodeToString(data[:1001]), 76, "\r\n"),
		"spaces and tabs":    wrap(enc[:4000], 60, " \t\r\n") + " ",
		"stray CR":           strings.Replace(wrap(enc[:4000], 76, "\r\n"), "A", "A\r", 3),
		"empty":              "",
		"blank lines":        "\r\n\r\n" + wrap(enc[:800], 76, "\r\n") + "\r\n",
		"data after padding": "QQ==\r\nQUJD\r\n",
		"padding far after":  wrap(base64.StdEncoding.EncodeToString(data[:70001]), 76, "\r\n") + "QUJD\r\n",
		"cut quantum":        enc[:4001],
		"bad character":      wrap(enc[:400]+"*"+enc[400:800], 76, "\r\n"),
	}
	for name, in := range cases {
		var h message.Header
		h.Set("Content-Transfer-Encoding", "base64")
		e, err := message.New(h, strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		want, wantErr := io.ReadAll(e.Body)
		for _, how := range []string{"whole", "one byte", "half"} {
			d := newB64Reader(false)
			d.Reset(chunked(in, how))
			got, gotErr := io.ReadAll(d)
			if (gotErr != nil) != (wantErr != nil) {
				t.Errorf("%s, read %s: error %v, go-message's %v", name, how, gotErr, wantErr)
				continue
			}
			if wantErr == nil && !bytes.Equal(got, want) {
				t.Errorf("%s, read %s: %d bytes differ from go-message's %d", name, how, len(got), len(want))
			}
		}
	}
}
