// Package dovecot runs a throwaway Dovecot IMAP server on loopback, with one
// static password and Maildirs under a temporary directory: the reference
// server that the IMAP client suite and the mbsync benchmark compare Postern
// with. It is a test and benchmark tool, never part of the relay.
//
// Start gives the plain configuration the client suites use; StartWith can
// add what a production Dovecot would have for a comparison of costs:
// ARGON2ID password hashes with the auth cache, and COMPRESS=DEFLATE.
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
{{passdb}}userdb {
  driver = static
  args = uid={{mailuid}} gid={{mailgid}} home={{dir}}/home/%u
}
mail_location = maildir:~/Maildir
{{extra}}namespace inbox {
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

// staticPassdb accepts Password for any user without hashing.
const staticPassdb = `passdb {
  driver = static
  args = password=secret
}
`

// argon2Passdb reads users and their ARGON2ID hashes (doveadm pw's
// defaults: m=64 MiB, t=3, p=1, the relay's own parameters) from a file
// dict, with the auth cache on as a production setup would have it. Not
// a passwd-file: Dovecot never caches passwd-file lookups (NEWS, 2.2.x:
// "Auth cache is now disabled [for] passwd-file"). Note that what Dovecot
// caches is the passdb's answer, the hash: a cache hit still verifies the
// password against it, so every login runs argon2id (seen with
// auth_debug: "cache hit", then about 0.3 s of argon2id). A passdb that
// verifies by itself (PAM, checkpassword) is cached differently; not tried.
const argon2Passdb = `auth_cache_size = 10M
passdb {
  driver = dict
  args = {{dir}}/dict-auth.conf
}
`

// dictAuthConf points the dict passdb at the file of hashes.
const dictAuthConf = `uri = file:{{dir}}/passdb.dict
password_key = passdb/%u
iterate_disable = yes
default_pass_scheme = ARGON2ID
`

// zlibPlugins offers COMPRESS=DEFLATE (RFC 4978): imap_zlib needs zlib
// loaded for every protocol.
const zlibPlugins = `mail_plugins = $mail_plugins zlib
protocol imap {
  mail_plugins = $mail_plugins imap_zlib
}
`

// Options selects what StartWith adds to the plain configuration.
type Options struct {
	// Argon2Users, when set, replaces the static passdb by a dict passdb
	// listing these users, each with Password hashed by
	// `doveadm pw -s ARGON2ID`, and turns the auth cache on
	// (auth_cache_size = 10M). Other users cannot log in.
	Argon2Users []string
	// Compress loads imap_zlib, so Dovecot offers COMPRESS=DEFLATE.
	Compress bool
}

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
func Start(bin string) (*Server, error) { return StartWith(bin, Options{}) }

// StartWith is Start with the additions o selects.
func StartWith(bin string, o Options) (*Server, error) {
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
	passdb, extra := staticPassdb, ""
	if len(o.Argon2Users) > 0 {
		if err := writePasswd(bin, dir, o.Argon2Users); err != nil {
			return fail(err)
		}
		passdb = argon2Passdb
	}
	if o.Compress {
		extra = zlibPlugins
	}
	c := strings.NewReplacer("{{passdb}}", passdb, "{{extra}}", extra).Replace(conf)
	c = strings.NewReplacer("{{dir}}", dir, "{{port}}", fmt.Sprint(port), "{{user}}", user,
		"{{group}}", group, "{{loginuser}}", loginUser,
		"{{mailuid}}", fmt.Sprint(s.uid), "{{mailgid}}", fmt.Sprint(s.gid)).Replace(c)
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

// writePasswd writes the dict passdb's configuration and its file, giving
// each user Password, hashed by doveadm (on $PATH, else next to bin) with
// ARGON2ID and its default parameters.
func writePasswd(bin, dir string, users []string) error {
	doveadm, err := exec.LookPath("doveadm")
	if err != nil {
		doveadm = filepath.Join(filepath.Dir(bin), "doveadm")
	}
	out, err := exec.Command(doveadm, "pw", "-s", "ARGON2ID", "-p", Password).Output()
	if err != nil {
		return fmt.Errorf("doveadm pw: %w", err)
	}
	hash := strings.TrimSpace(string(out))
	if !strings.HasPrefix(hash, "{ARGON2ID}") {
		return fmt.Errorf("doveadm pw gave %q, not an ARGON2ID hash", hash)
	}
	// The file dict alternates key and value lines; the passdb's keys
	// live under "shared/" and its values are JSON objects.
	var b strings.Builder
	for _, u := range users {
		fmt.Fprintf(&b, "shared/passdb/%s\n{\"password\":%q}\n", u, hash)
	}
	if err := os.WriteFile(filepath.Join(dir, "passdb.dict"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	conf := strings.ReplaceAll(dictAuthConf, "{{dir}}", dir)
	return os.WriteFile(filepath.Join(dir, "dict-auth.conf"), []byte(conf), 0o644)
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
