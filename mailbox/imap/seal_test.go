package imapd

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/emersion/go-imap/v2"

	"postern/mailbox/imap/structure"
	"postern/mailbox/pgp"
	"postern/mailbox/pgp/pgptest"
	"postern/mailbox/store"
	"postern/tools/corpus"
)

const plainReply = "From: alice <alice@newsroom.example>\r\nTo: \"quixotic tangerine\" <qt@relay.example>\r\n" +
	"Subject: Re: the documents we talked about\r\nDate: Sun, 29 Nov 2026 14:03:27 +0100\r\n" +
	"Message-ID: <reply1@newsroom.example>\r\nIn-Reply-To: <root@relay.example>\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n\r\nThank you, we will call you at nine.\r\n"

// A plaintext Sent copy is stored sealed to the journalist's key: no
// plaintext on disk, and the journalist still reads it whole.
func TestAppendPlaintextIsSealed(t *testing.T) {
	e := newEnv(t, "alice")
	c := e.login(t, "alice", nil)
	ad := mustAppend(t, c, "Sent", plainReply, []imap.Flag{imap.FlagSeen})
	msgs, err := e.st.Messages("alice", "Sent")
	if err != nil || len(msgs) != 1 || msgs[0].UID != uint32(ad.UID) {
		t.Fatalf("Sent: %v %+v", err, msgs)
	}
	f, err := e.st.OpenBlob(msgs[0].Blob.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stored, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"nine", "documents we talked", "14:03"} {
		if bytes.Contains(stored, []byte(secret)) {
			t.Errorf("stored Sent copy contains %q in plaintext", secret)
		}
	}
	st, err := structure.Compute(bytes.NewReader(stored))
	if err != nil {
		t.Fatal(err)
	}
	if st.Root.Type != "multipart" || st.Root.Subtype != "encrypted" {
		t.Fatalf("stored as %s/%s", st.Root.Type, st.Root.Subtype)
	}
	sec, _ := st.Locate(&imap.FetchItemBodySection{Part: []int{2}})
	blk, err := armor.Decode(bytes.NewReader(stored[sec.Range.Start:sec.Range.End]))
	if err != nil {
		t.Fatal(err)
	}
	md, err := openpgp.ReadMessage(blk.Body, openpgp.EntityList{e.keys["alice"]}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(md.UnverifiedBody)
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != plainReply {
		t.Errorf("decrypted Sent copy differs:\n%q", plain)
	}
	if env := st.Envelope(); env.Subject != "..." || len(env.To) != 1 || env.To[0].Host != "relay.example" {
		t.Errorf("outer envelope %+v", env)
	}
}

// Encrypted messages keep their body byte for byte under a minimal outer
// header (no subject, no client name, the day for a date); without a usable
// key a plaintext APPEND is refused rather than stored in the clear.
func TestAppendEncryptedKeptAndPlaintextRefusedWithoutKey(t *testing.T) {
	e := newEnv(t, "alice")
	c := e.login(t, "alice", nil)
	enc := "User-Agent: Mozilla Thunderbird\r\nX-Mozilla-Draft-Info: internal/draft; vcard=0\r\n" +
		sampleMessage("already encrypted", 1000)
	mustAppend(t, c, "Drafts", enc, nil)
	inline := "Subject: inline\r\n\r\n" + armoredCiphertext(t, []byte("inline reply"), e.keys["alice"])
	mustAppend(t, c, "Drafts", inline, nil)
	msgs, _ := e.st.Messages("alice", "Drafts")
	for i, want := range []string{enc, inline} {
		f, err := e.st.OpenBlob(msgs[i].Blob.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(f)
		f.Close()
		gotHead, gotBody, _ := strings.Cut(string(got), "\r\n\r\n")
		_, wantBody, _ := strings.Cut(want, "\r\n\r\n")
		if !keptSame(gotBody, wantBody) {
			t.Errorf("message %d: body changed on APPEND", i)
		}
		for _, leak := range []string{"Thunderbird", "X-Mozilla", "already encrypted", "inline"} {
			if strings.Contains(gotHead, leak) {
				t.Errorf("message %d: outer header keeps %q:\n%s", i, leak, gotHead)
			}
		}
		if !strings.Contains(gotHead, "Subject: ...") {
			t.Errorf("message %d: outer header %q", i, gotHead)
		}
	}
	if err := e.st.UpdateJournalist("alice", func(j *store.Journalist) error {
		j.PublicKey = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The key change logged alice out; log in again.
	c = e.login(t, "alice", nil)
	cmd := c.Append("Sent", int64(len(plainReply)), nil)
	cmd.Write([]byte(plainReply))
	cmd.Close()
	if _, err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Errorf("plaintext APPEND without a key: %v", err)
	}
	if msgs, _ := e.st.Messages("alice", "Sent"); len(msgs) != 0 {
		t.Error("plaintext stored")
	}
}

// testJournalistKey is the key the env registers for a journalist: derived
// from the name, so that test messages can be encrypted to it beforehand.
func testJournalistKey(name string) (*openpgp.Entity, error) {
	seed := sha256.Sum256([]byte("journalist " + name))
	return pgp.DeriveKey(seed[:], name+" <"+name+"@newsroom.example>")
}

// sampleArmor is an armored OpenPGP message of at least size bytes, shaped
// like a real one to the test journalists alice and bob: a PKESK to each,
// then an SEIPD packet whose body is zeros. It decrypts to nothing, but the
// relay reads only the first packets of what it stores.
func sampleArmor(size int) string {
	var bin bytes.Buffer
	bin.Write(samplePKESKs())
	n := size*3/4 + 1
	bin.Write(binary.BigEndian.AppendUint32([]byte{0xC0 | 18, 0xFF}, uint32(n)))
	bin.WriteByte(1) // SEIPD version 1
	bin.Write(make([]byte, n-1))
	var out bytes.Buffer
	w, err := armor.Encode(crlfWriter{&out}, "PGP MESSAGE", nil)
	if err != nil {
		panic(err)
	}
	w.Write(bin.Bytes())
	w.Close()
	out.WriteString("\r\n")
	return out.String()
}

// samplePKESKs are sampleArmor's session-key packets, made once (deriving
// the keys takes milliseconds). The randomness is fixed, so the armor holds
// the same characters in every run and no word a SEARCH could match by
// chance.
var samplePKESKs = sync.OnceValue(func() []byte {
	var bin bytes.Buffer
	config := &packet.Config{Rand: mrand.NewChaCha8([32]byte{})}
	session := make([]byte, 32)
	for _, name := range []string{"alice", "bob"} {
		key, err := testJournalistKey(name)
		if err != nil {
			panic(err)
		}
		k, _ := key.EncryptionKey(time.Now())
		if err := packet.SerializeEncryptedKeyAEAD(&bin, k.PublicKey, packet.CipherAES256, false, session, config); err != nil {
			panic(err)
		}
	}
	return bin.Bytes()
})

// armoredCiphertext encrypts plain to the keys as a journalist's client
// would, armored with CRLF line ends.
func armoredCiphertext(t testing.TB, plain []byte, to ...*openpgp.Entity) string {
	t.Helper()
	var out bytes.Buffer
	aw, err := armor.Encode(crlfWriter{&out}, "PGP MESSAGE", nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pgp.Encrypt(aw, to, pgp.EncryptOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	out.WriteString("\r\n")
	return out.String()
}

// thunderbirdEncrypted is a message laid out as Thunderbird 153 writes an
// encrypted Sent copy (folded Content-Type, preamble, descriptions), with
// armored as its second part.
func thunderbirdEncrypted(armored string) string {
	return "Message-ID: <tb.sent@newsroom.example>\r\nDate: Sun, 29 Nov 2026 14:03:27 +0100\r\nMIME-Version: 1.0\r\n" +
		"User-Agent: Mozilla Thunderbird\r\nFrom: alice <alice@newsroom.example>\r\nTo: \"quixotic tangerine\" <qt@relay.example>\r\n" +
		"Subject: ...\r\nContent-Type: multipart/encrypted;\r\n protocol=\"application/pgp-encrypted\";\r\n boundary=\"------------q0MMKZ4uY4iSvdNAm9XTjLL3\"\r\n\r\n" +
		"This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n--------------q0MMKZ4uY4iSvdNAm9XTjLL3\r\n" +
		"Content-Type: application/pgp-encrypted\r\nContent-Description: PGP/MIME version identification\r\n\r\nVersion: 1\r\n\r\n" +
		"--------------q0MMKZ4uY4iSvdNAm9XTjLL3\r\nContent-Type: application/octet-stream; name=\"encrypted.asc\"\r\n" +
		"Content-Description: OpenPGP encrypted message\r\nContent-Disposition: inline; filename=\"encrypted.asc\"\r\n\r\n" +
		armored + "\r\n--------------q0MMKZ4uY4iSvdNAm9XTjLL3--\r\n"
}

// sealedPlaintext opens the stored blob of the i-th message of box as a
// sealed one and returns what alice reads in it; it fails the test if the
// message was not sealed.
func sealedPlaintext(t *testing.T, e *env, box string, i int) []byte {
	t.Helper()
	msgs, err := e.st.Messages("alice", box)
	if err != nil || len(msgs) <= i {
		t.Fatalf("%s: %v, %d messages", box, err, len(msgs))
	}
	f, err := e.st.OpenBlob(msgs[i].Blob.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stored, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	st, err := structure.Compute(bytes.NewReader(stored))
	if err != nil {
		t.Fatal(err)
	}
	sec, _ := st.Locate(&imap.FetchItemBodySection{Part: []int{2}})
	if st.Root.Subtype != "encrypted" || sec.Range.End <= sec.Range.Start {
		t.Fatalf("message %d not sealed: %s/%s", i, st.Root.Type, st.Root.Subtype)
	}
	blk, err := armor.Decode(bytes.NewReader(stored[sec.Range.Start:sec.Range.End]))
	if err != nil {
		t.Fatalf("message %d: %v", i, err)
	}
	md, err := openpgp.ReadMessage(blk.Body, openpgp.EntityList{e.keys["alice"]}, nil, nil)
	if err != nil {
		t.Fatalf("message %d not sealed to alice: %v", i, err)
	}
	plain, err := io.ReadAll(md.UnverifiedBody)
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

// TestAppendClaimingEncryptionIsSealed protects issue 12 finding 6: a
// message whose header says multipart/encrypted, or whose text starts with
// an armor line, is sealed unless its packets really are ciphertext to the
// journalist.
func TestAppendClaimingEncryptionIsSealed(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	c := e.login(t, "alice", nil)
	inner := []byte(plainReply)
	literal := func() string { // gpg --store --armor: armored, not encrypted
		var out bytes.Buffer
		aw, _ := armor.Encode(crlfWriter{&out}, "PGP MESSAGE", nil)
		lw, _ := packet.SerializeLiteral(nopWriteCloser{aw}, true, "", 0)
		lw.Write(inner)
		lw.Close()
		aw.Close()
		return out.String() + "\r\n"
	}()
	cases := map[string]string{
		"header claims PGP/MIME, parts are plaintext": strings.Replace(thunderbirdEncrypted("Meet me at nine, the documents are ready.\r\n"),
			"Subject: ...", "Subject: the documents", 1),
		"inline armor line over a fake body": "Subject: inline\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nwcBMA\r\n-----END PGP MESSAGE-----\r\n",
		"armor line, then plaintext":         "Subject: x\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nMeet me at nine, the documents are ready.\r\n",
		"PGP/MIME encrypted to someone else": thunderbirdEncrypted(armoredCiphertext(t, inner, e.keys["bob"])),
		"PGP/MIME around a literal packet":   thunderbirdEncrypted(literal),
		"PGP/MIME with base64 over the armor": strings.Replace(thunderbirdEncrypted(armoredCiphertext(t, inner, e.keys["alice"])),
			"Content-Disposition: inline", "Content-Transfer-Encoding: base64\r\nContent-Disposition: inline", 1),
		"PGP/MIME with a wrong version part": strings.Replace(thunderbirdEncrypted(armoredCiphertext(t, inner, e.keys["alice"])),
			"Version: 1", "Version: 1\r\nMeet me at nine", 1),
		"PGP/MIME without the protocol": strings.Replace(thunderbirdEncrypted(armoredCiphertext(t, inner, e.keys["alice"])),
			"protocol=\"application/pgp-encrypted\";", "", 1),
	}
	var order []string
	for name, msg := range cases {
		order = append(order, name)
		mustAppend(t, c, "Sent", msg, nil)
	}
	for i, name := range order {
		if got := sealedPlaintext(t, e, "Sent", i); string(got) != cases[name] {
			t.Errorf("%s: the sealed message is not the one appended", name)
		}
	}
}

// TestAppendRealCiphertextKept checks the other side: what a client really
// encrypted to the journalist (Thunderbird's PGP/MIME, inline, several
// recipients) is stored as it is, under the minimal outer header.
func TestAppendRealCiphertextKept(t *testing.T) {
	e := newEnv(t, "alice", "bob")
	c := e.login(t, "alice", nil)
	source, err := testJournalistKey("a source")
	if err != nil {
		t.Fatal(err)
	}
	inner := bytes.Repeat([]byte(plainReply), 40) // about 12 KiB
	msgs := []string{
		thunderbirdEncrypted(armoredCiphertext(t, inner, source, e.keys["alice"])),
		thunderbirdEncrypted(armoredCiphertext(t, inner, e.keys["bob"], source, e.keys["alice"])),
		"Subject: inline\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" +
			armoredCiphertext(t, inner, source, e.keys["alice"]),
		sampleMessage("big", 1<<20),
	}
	for _, m := range msgs {
		mustAppend(t, c, "Sent", m, nil)
	}
	bodies := sentBodies(t, e, len(msgs))
	for i, m := range msgs {
		_, wantBody, _ := strings.Cut(m, "\r\n\r\n")
		if !keptSame(bodies[i], wantBody) {
			t.Errorf("message %d: body changed on APPEND (sealed although encrypted to alice?)", i)
		}
	}
}

// sentBodies returns the bodies (past the header) of alice's Sent messages
// as stored, in UID order, after checking there are n.
func sentBodies(t *testing.T, e *env, n int) []string {
	t.Helper()
	stored, err := e.st.Messages("alice", "Sent")
	if err != nil || len(stored) != n {
		t.Fatalf("Sent: %v, %d messages, want %d", err, len(stored), n)
	}
	var out []string
	for _, m := range stored {
		f, err := e.st.OpenBlob(m.Blob.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(f)
		f.Close()
		if size := int64(len(got)); pgp.Padme(size) != size {
			t.Errorf("a Sent message of %d bytes: not a Padmé length", size)
		}
		_, body, _ := strings.Cut(string(got), "\r\n\r\n")
		out = append(out, body)
	}
	return out
}

// keptSame reports whether a stored body is the APPENDed one but for the
// lines of spaces that pad it (pgpmime.PadWriter).
func keptSame(stored, appended string) bool {
	return strings.TrimRight(stored, " \r\n") == strings.TrimRight(appended, " \r\n") &&
		strings.HasPrefix(stored, strings.TrimRight(appended, " \r\n"))
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// FuzzEncryptedHead feeds arbitrary messages to the check that decides
// whether an APPEND is stored as it is. It must not panic, and what it
// accepts as encrypted to alice it accepts as encrypted to anyone. Seeds
// are in testdata/fuzz/FuzzEncryptedHead.
func FuzzEncryptedHead(f *testing.F) {
	alice, err := testJournalistKey("alice")
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(sampleMessage("seed", 300)))
	f.Add([]byte(plainReply))
	ids := pgp.KeyIDs(alice)
	f.Fuzz(func(t *testing.T, msg []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(msg), 64<<10)
		raw, err := readRawHeader(br)
		if err != nil {
			return
		}
		h := parseHeader(raw)
		head, _ := br.Peek(br.Size())
		if encryptedHead(h, head, ids) && !encryptedHead(h, head, nil) {
			t.Fatal("encrypted to alice but not to anyone")
		}
	})
}

// TestAppendToolCiphertextKept: ciphertext made by gpg and by rnp (the
// library inside Thunderbird), to alice and to an RSA key, is recognised
// as encrypted and stored as it is: their packet framing (legacy headers,
// partial lengths) is read as well as go-crypto's.
func TestAppendToolCiphertextKept(t *testing.T) {
	g := pgptest.NewGPG(t)
	e := newEnv(t, "alice")
	c := e.login(t, "alice", nil)
	pub, err := pgp.Armor(e.keys["alice"])
	if err != nil {
		t.Fatal(err)
	}
	g.Run(pub, "--import")
	rsa := g.GenKey("source <source@example.org>", "rsa3072", "sign,encr", "never")
	inner := bytes.Repeat([]byte(plainReply), 30)
	crlf := func(b []byte) string {
		return strings.ReplaceAll(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n", "\r\n")
	}
	aliceFpr := fmt.Sprintf("%X", e.keys["alice"].PrimaryKey.Fingerprint)
	msgs := map[string]string{
		"gpg": thunderbirdEncrypted(crlf(g.Run(inner, "--armor", "--encrypt", "--trust-model", "always", "-r", rsa, "-r", aliceFpr))),
	}
	if _, err := exec.LookPath("rnp"); err == nil {
		dir := t.TempDir()
		home := filepath.Join(dir, "rnp")
		if err := os.Mkdir(home, 0o700); err != nil {
			t.Fatal(err)
		}
		keys := filepath.Join(dir, "keys.asc")
		if err := os.WriteFile(keys, append(pub, g.Export(rsa)...), 0o600); err != nil {
			t.Fatal(err)
		}
		pgptest.Run(t, nil, "rnpkeys", "--homedir", home, "--import", keys)
		in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out.asc")
		if err := os.WriteFile(in, inner, 0o600); err != nil {
			t.Fatal(err)
		}
		pgptest.Run(t, nil, "rnp", "--homedir", home, "--encrypt", "--armor", "-r", "source@example.org", "-r", "alice@newsroom.example", in, "--output", out)
		ct, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		msgs["rnp"] = thunderbirdEncrypted(crlf(ct))
	} else if os.Getenv("CI") == "true" {
		t.Fatal("rnp not installed (required under CI)")
	}
	var order []string
	for tool, m := range msgs {
		order = append(order, tool)
		mustAppend(t, c, "Sent", m, nil)
	}
	bodies := sentBodies(t, e, len(msgs))
	for i, tool := range order {
		_, wantBody, _ := strings.Cut(msgs[tool], "\r\n\r\n")
		if !keptSame(bodies[i], wantBody) {
			t.Errorf("%s's ciphertext to alice was sealed again instead of kept", tool)
		}
	}
}

// crlfWriter turns go-crypto armor's LF line ends into CRLF, as mail
// needs: the tests make ciphertext the way other clients do.
type crlfWriter struct{ w io.Writer }

func (c crlfWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			m, err := c.w.Write(p)
			return n + m, err
		}
		if _, err := c.w.Write(p[:i]); err != nil {
			return n, err
		}
		if _, err := c.w.Write([]byte("\r\n")); err != nil {
			return n, err
		}
		n += i + 1
		p = p[i+1:]
	}
	return n, nil
}

// TestAppendMetaIsTheStoredFiles: the structure APPEND stores (walked from
// the stream on its way to the file, not read back) is the one a walk of
// the stored file gives, for sealed messages of realistic sizes and for a
// message kept as it came.
func TestAppendMetaIsTheStoredFiles(t *testing.T) {
	e := newEnv(t, "alice")
	c := e.login(t, "alice", nil)
	for _, n := range []int{3 << 10, 18 << 10, 300 << 10} {
		mustAppend(t, c, "INBOX", string(corpus.PlainMessage(n, n)), nil)
	}
	mustAppend(t, c, "INBOX", "Subject: inline\r\n\r\n"+armoredCiphertext(t, []byte("inline reply"), e.keys["alice"]), nil)
	msgs, err := e.st.Messages("alice", "INBOX")
	if err != nil || len(msgs) != 4 {
		t.Fatalf("INBOX: %v, %d messages", err, len(msgs))
	}
	for _, m := range msgs {
		meta, err := e.st.MessageMeta("alice", "INBOX", m.UID)
		if err != nil {
			t.Fatal(err)
		}
		f, err := e.st.OpenBlob(m.Blob.ID)
		if err != nil {
			t.Fatal(err)
		}
		want, err := structure.Meta(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(meta, want) {
			t.Errorf("UID %d (%d bytes): stored structure differs from the file's:\n%s\n%s", m.UID, m.Blob.Size, meta, want)
		}
	}
}
