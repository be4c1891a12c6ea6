package smtpd

import (
	"encoding/base64"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzSession sends arbitrary bytes to a logged-in session over TCP: the
// server must answer or hang up and never panic, and the store must stay
// consistent.
func FuzzSession(f *testing.F) {
	f.Add([]byte("MAIL FROM:<a@b>\r\nRCPT TO:<quixotic.tangerine@postern.test>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n"))
	f.Add([]byte("MAIL FROM:<a@b>\r\nRCPT TO:<quixotic.tangerine@postern.test>\r\nBDAT 5 LAST\r\nab\ncd"))
	f.Add([]byte("MAIL FROM:<a@b> SIZE=99999999999\r\nRCPT TO:<x@y>\r\nDATA\r\n.\r\n"))
	f.Add([]byte("AUTH LOGIN\r\n*\r\nRSET\r\nVRFY root\r\nEXPN staff\r\nHELP\r\nSTARTTLS\r\n"))
	f.Add([]byte("MAIL FROM:<a@b>\r\nRCPT TO:<quixotic.tangerine@postern.test>\r\nDATA\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=b\r\n\r\n--b\r\n\r\n--b--\r\n.\r\n"))
	e := newEnv(f)
	login := "EHLO fuzz.example\r\nAUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00jane\x00"+password)) + "\r\n"
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			c.Write([]byte(login))
			c.Write(b)
			c.Write([]byte("\r\nQUIT\r\n"))
		}()
		io.Copy(io.Discard, c)
		if n := e.srv.panics.Load(); n > 0 {
			t.Fatalf("%d panics", n)
		}
		if err := e.st.Check(); err != nil {
			t.Fatal(err)
		}
	})
}
