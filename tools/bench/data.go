package main

import (
	"bufio"
	"io"
	mrand "math/rand"
	"math/rand/v2"
	"os"
	"strings"
)

// vocabulary for the text generator: common English words, drawn with a
// Zipf distribution so the output compresses about as well as prose
// (deflate level 1 gets roughly 2.5–3x on it).
var vocabulary = strings.Fields(`the of and to a in is that for it as was with be by on not he
this are or his from at which but have an they you were her she there been one all we their has
would when if so no will more can said who about some what them into only its other out time
could then these two may first any my now such like our over man me even most made after also
did many before must through back years where much your way well down should because each just
those people how too little state good very make world still own see men work long here get both
between life being under never day same another know while last might us great old year off
come since against go came right used take three states himself few house use during without
again place around however home small found thought went say part once general high upon school
every does got united left number course war until always away something fact though water less
public put think almost hand enough far took head yet government system better set told nothing
night end why called didn't eyes find going look asked later knew point next program city business
give group toward young days let room president side social given present several order national
possible rather second face per among form important often things looking early court report
minister documents contract payment account transfer meeting company director budget invoice
shipment evidence records internal memo confidential source journalist newsroom agency ministry`)

// textReader returns n bytes of generated prose from seed.
func textReader(seed int64, n int64) io.Reader {
	r := mrand.New(mrand.NewSource(seed))
	z := mrand.NewZipf(r, 1.1, 2, uint64(len(vocabulary)-1))
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 64<<10)
		var written int64
		line, sentence := 0, 0
		for written < n {
			word := vocabulary[z.Uint64()]
			if sentence == 0 {
				word = strings.ToUpper(word[:1]) + word[1:]
			}
			sentence++
			sep := " "
			if sentence > 8+r.Intn(12) {
				word += "."
				sentence = 0
			}
			line += len(word) + 1
			if line > 72 {
				sep = "\n"
				line = 0
			}
			k, _ := w.WriteString(word + sep)
			written += int64(k)
		}
		w.Flush()
		pw.Close()
	}()
	return io.LimitReader(pr, n)
}

// randomReader returns n incompressible bytes (ChaCha8), standing in for
// already-compressed files: photos, video, zip and office archives.
func randomReader(seed uint64, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}), n)
}

// writeFile writes r to path.
func writeFile(path string, r io.Reader) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
