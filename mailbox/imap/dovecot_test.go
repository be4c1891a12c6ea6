package imapd

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClientSuiteDovecot runs the same client suite against Debian's
// Dovecot, which keeps the suite honest: what it expects of us, a
// reference server does too.
func TestClientSuiteDovecot(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	bin := needTool(t, "dovecot")
	addr, _ := startDovecot(t, bin)
	runClientSuite(t, target{Addr: addr, User: "alice", Password: "secret"})
}

const dovecotConf = `base_dir = {{dir}}/run
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

// startDovecot runs dovecot in the foreground on a loopback port with a
// static password and a Maildir under a temporary directory. It returns
// the address and the directory holding each user's home.
func startDovecot(t testing.TB, bin string) (addr, home string) {
	t.Helper()
	// Dovecot's mail processes drop to the mail user, which must be able
	// to reach the directory: t.TempDir is 0700 under root.
	dir, err := os.MkdirTemp("", "postern-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	home = filepath.Join(dir, "home")
	if err := os.MkdirAll(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	user, group, loginUser := "root", "root", "nobody"
	if uid == 0 {
		// Dovecot refuses uid 0 for mail.
		uid, gid = 65534, 65534
		if err := os.Chown(home, uid, gid); err != nil {
			t.Fatal(err)
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
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := strings.NewReplacer("{{dir}}", dir, "{{port}}", fmt.Sprint(port), "{{user}}", user,
		"{{group}}", group, "{{loginuser}}", loginUser,
		"{{mailuid}}", fmt.Sprint(uid), "{{mailgid}}", fmt.Sprint(gid)).Replace(dovecotConf)
	cf := filepath.Join(dir, "dovecot.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", cf, "-F")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(waitLimit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			l, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(l, "* OK") {
				return addr, home
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("dovecot did not start: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
