// Package dovecot runs a throwaway Dovecot IMAP server on loopback, with one
// static password and Maildirs under a temporary directory: the reference
// server that the IMAP client suite and the mbsync benchmark compare Postern
// with. It is a test and benchmark tool, never part of the relay.
package dovecot

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Password is every user's password.
const Password = "secret"

const conf = `base_dir = {{dir}}/run
log_path = {{dir}}/log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
protocols = imap
listen = 127.0.0.1
default_login_user = {{loginuser}}
default_internal_user = {{user}}
default_internal_group = {{group}}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = {{port}}
  }
  inet_listener imaps {
    port = 0
  }
  chroot =
}
service anvil {
  chroot =
}
passdb {
  driver = static
  args = password=secret
}
userdb {
  driver = static
  args = uid={{mailuid}} gid={{mailgid}} home={{dir}}/home/%u
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }
  mailbox Drafts {
    special_use = \Drafts
    auto = subscribe
  }
  mailbox Trash {
    special_use = \Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \Junk
    auto = subscribe
  }
  mailbox Archive {
    special_use = \Archive
    auto = subscribe
  }
}
`

// Server is a running Dovecot.
type Server struct {
	// Addr is the IMAP listener (host:port).
	Addr string
	// Home holds each user's home directory (HOME/USER/Maildir).
	Home     string
	dir      string
	uid, gid int
	cmd      *exec.Cmd
}

// Start runs bin (Debian's dovecot) in the foreground and waits for its
// greeting. Running as root, the mail processes use uid 65534: Dovecot
// refuses uid 0 for mail.
func Start(bin string) (*Server, error) {
	// The mail processes drop to the mail user, which must reach the
	// directory: a 0700 temp dir under root would not do.
	dir, err := os.MkdirTemp("", "postern-dovecot-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, Home: filepath.Join(dir, "home"), uid: os.Getuid(), gid: os.Getgid()}
	fail := func(err error) (*Server, error) { s.Stop(); return nil, err }
	for _, d := range []string{dir, filepath.Join(dir, "run"), s.Home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return fail(err)
		}
	}
	user, group, loginUser := "root", "root", "nobody"
	if s.uid == 0 {
		s.uid, s.gid = 65534, 65534
		if err := os.Chown(s.Home, s.uid, s.gid); err != nil {
			return fail(err)
		}
	} else {
		out, _ := exec.Command("id", "-un").Output()
		user = strings.TrimSpace(string(out))
		out, _ = exec.Command("id", "-gn").Output()
		group = strings.TrimSpace(string(out))
		loginUser = user
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	c := strings.NewReplacer("{{dir}}", dir, "{{port}}", fmt.Sprint(port), "{{user}}", user,
		"{{group}}", group, "{{loginuser}}", loginUser,
		"{{mailuid}}", fmt.Sprint(s.uid), "{{mailgid}}", fmt.Sprint(s.gid)).Replace(conf)
	cf := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(cf, []byte(c), 0o644); err != nil {
		return fail(err)
	}
	s.cmd = exec.Command(bin, "-c", cf, "-F")
	if err := s.cmd.Start(); err != nil {
		return fail(err)
	}
	s.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			l, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(l, "* OK") {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			return fail(fmt.Errorf("dovecot did not start:\n%s", log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Chown hands everything under Home to the mail user, after files were put
// into a Maildir directly.
func (s *Server) Chown() {
	filepath.Walk(s.Home, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			os.Lchown(p, s.uid, s.gid)
		}
		return nil
	})
}

// PID is the master process's id; the login, auth and imap processes are
// its children.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop ends Dovecot and removes its directory.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Signal(os.Interrupt)
		s.cmd.Wait()
	}
	os.RemoveAll(s.dir)
}
