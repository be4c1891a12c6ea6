// Package tornet runs a private Tor network on loopback: directory authorities,
// relays and one client with a SOCKS port and a ClientOnionAuthDir. Tests use it to
// exercise the real onion path (v3 onion services, client authorisation) with no
// internet. Nothing here is ever part of a production configuration.
//
// The recipe (and why each option is there) is in shared/notes/tor-test-network.md:
// authorities and relays start first; the client, and any tor that hosts onion
// services, starts only once the authorities' consensus lists every relay, because a
// tor that bootstraps on a partial consensus fails path selection and backs off for
// minutes.
package tornet

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options configure a network. Zero values give 3 authorities and 3 relays.
type Options struct {
	// Dir holds every node's data directory and torrc. It must exist.
	Dir string
	// Authorities and Relays count the nodes; fewer than 5 in all fails now and then.
	Authorities, Relays int
	// TorPath and GencertPath default to tor and tor-gencert on $PATH.
	TorPath, GencertPath string
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)
}

// Network is a running private Tor network.
type Network struct {
	// Dir is Options.Dir.
	Dir string
	// SocksAddr is the client's SOCKS5 listener (host:port), with ExtendedErrors, so a
	// missing client authorisation shows as SOCKS reply 0xF4.
	SocksAddr string
	// ClientAuthDir is the client's ClientOnionAuthDir; see AddClientAuth.
	ClientAuthDir string
	// JoinTorrc is the path of a torrc fragment that makes any tor a member of this
	// network (DirAuthority lines, testing options, entry nodes): a tor started by the
	// relay with `%include` of it hosts onion services on this network.
	JoinTorrc string

	torPath string
	logf    func(string, ...any)
	mu      sync.Mutex
	procs   []*node
	client  *node
}

type node struct {
	name string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start builds and starts a network and returns when the client has bootstrapped.
// On error everything it started is stopped.
func Start(ctx context.Context, o Options) (n *Network, err error) {
	if o.Authorities == 0 {
		o.Authorities = 3
	}
	if o.Relays == 0 {
		o.Relays = 3
	}
	if o.TorPath == "" {
		o.TorPath = "tor"
	}
	if o.GencertPath == "" {
		o.GencertPath = "tor-gencert"
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	torPath, err := exec.LookPath(o.TorPath)
	if err != nil {
		return nil, fmt.Errorf("tornet: tor not found: %w", err)
	}
	gencert, err := exec.LookPath(o.GencertPath)
	if err != nil {
		return nil, fmt.Errorf("tornet: tor-gencert not found: %w", err)
	}
	n = &Network{Dir: o.Dir, torPath: torPath, logf: o.Logf}
	defer func() {
		if err != nil {
			n.Stop()
		}
	}()

	type auth struct {
		name, dir, v3ident, fp string
		or, dirPort            int
	}
	var auths []auth
	for i := range o.Authorities {
		a := auth{name: fmt.Sprintf("auth%d", i), or: freePort(), dirPort: freePort()}
		a.dir = filepath.Join(o.Dir, a.name)
		if err := os.MkdirAll(filepath.Join(a.dir, "keys"), 0o700); err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, gencert, "--create-identity-key", "--passphrase-fd", "0", "-m", "12",
			"-a", fmt.Sprintf("127.0.0.1:%d", a.dirPort),
			"-i", filepath.Join(a.dir, "keys", "authority_identity_key"),
			"-s", filepath.Join(a.dir, "keys", "authority_signing_key"),
			"-c", filepath.Join(a.dir, "keys", "authority_certificate"))
		cmd.Stdin = strings.NewReader("\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("tornet: tor-gencert: %v: %s", err, out)
		}
		cert, err := os.ReadFile(filepath.Join(a.dir, "keys", "authority_certificate"))
		if err != nil {
			return nil, err
		}
		a.v3ident = certFingerprint(cert)
		if a.v3ident == "" {
			return nil, errors.New("tornet: no fingerprint in authority certificate")
		}
		if a.fp, err = n.fingerprint(ctx, a.dir); err != nil {
			return nil, err
		}
		auths = append(auths, a)
	}

	var common strings.Builder
	common.WriteString(commonTorrc)
	var authFPs []string
	for _, a := range auths {
		fmt.Fprintf(&common, "DirAuthority %s orport=%d no-v2 v3ident=%s 127.0.0.1:%d %s\n",
			a.name, a.or, a.v3ident, a.dirPort, a.fp)
		authFPs = append(authFPs, a.fp)
	}
	commonPath := filepath.Join(o.Dir, "common.torrc")
	if err := os.WriteFile(commonPath, []byte(common.String()), 0o600); err != nil {
		return nil, err
	}
	n.JoinTorrc = filepath.Join(o.Dir, "join.torrc")
	join := fmt.Sprintf("%%include %s\nEntryNodes %s\n", commonPath, strings.Join(authFPs, ","))
	if err := os.WriteFile(n.JoinTorrc, []byte(join), 0o600); err != nil {
		return nil, err
	}

	for _, a := range auths {
		torrc := fmt.Sprintf(`%%include %s
Nickname %s
ORPort 127.0.0.1:%d
DirPort 127.0.0.1:%d
Address 127.0.0.1
AuthoritativeDirectory 1
V3AuthoritativeDirectory 1
ContactInfo tornet@localhost
AssumeReachable 1
ExitPolicy reject *:*
SocksPort 0
`, commonPath, a.name, a.or, a.dirPort)
		if err := n.startNode(a.name, a.dir, torrc); err != nil {
			return nil, err
		}
	}
	for i := range o.Relays {
		name := fmt.Sprintf("relay%d", i)
		dir := filepath.Join(o.Dir, name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		torrc := fmt.Sprintf(`%%include %s
Nickname %s
ORPort 127.0.0.1:%d
Address 127.0.0.1
AssumeReachable 1
ExitPolicy reject *:*
SocksPort 0
`, commonPath, name, freePort())
		if err := n.startNode(name, dir, torrc); err != nil {
			return nil, err
		}
	}

	// Phase two waits for a consensus that lists every node.
	want := o.Authorities + o.Relays
	o.Logf("tornet: waiting for a consensus with %d nodes", want)
	if err := waitFor(ctx, 3*time.Minute, func() bool {
		b, err := os.ReadFile(filepath.Join(auths[0].dir, "cached-microdesc-consensus"))
		return err == nil && countRouters(b) >= want
	}); err != nil {
		return nil, fmt.Errorf("tornet: consensus never listed %d nodes: %w", want, err)
	}

	cdir := filepath.Join(o.Dir, "client")
	n.ClientAuthDir = filepath.Join(cdir, "onion-auth")
	if err := os.MkdirAll(n.ClientAuthDir, 0o700); err != nil {
		return nil, err
	}
	socks := freePort()
	n.SocksAddr = fmt.Sprintf("127.0.0.1:%d", socks)
	torrc := fmt.Sprintf(`%%include %s
Nickname client
SocksPort 127.0.0.1:%d ExtendedErrors
ClientOnionAuthDir %s
`, n.JoinTorrc, socks, n.ClientAuthDir)
	if err := n.startNode("client", cdir, torrc); err != nil {
		return nil, err
	}
	n.client = n.procs[len(n.procs)-1]
	if err := waitFor(ctx, 3*time.Minute, func() bool {
		b, _ := os.ReadFile(filepath.Join(cdir, "notice.log"))
		return bytes.Contains(b, []byte("Bootstrapped 100%"))
	}); err != nil {
		return nil, fmt.Errorf("tornet: client did not bootstrap: %w", err)
	}
	o.Logf("tornet: up, SOCKS at %s", n.SocksAddr)
	return n, nil
}

// commonTorrc holds the options every node shares, as Tor's chutney uses them.
const commonTorrc = `TestingTorNetwork 1
PathsNeededToBuildCircuits 0.67
TestingDirAuthVoteExit *
TestingDirAuthVoteHSDir *
TestingDirAuthVoteGuard *
TestingMinExitFlagThreshold 0
V3AuthNIntervalsValid 2
TestingV3AuthInitialVotingInterval 10
TestingV3AuthInitialVoteDelay 2
TestingV3AuthInitialDistDelay 2
V3AuthVotingInterval 10
V3AuthVoteDelay 2
V3AuthDistDelay 2
ConnLimit 60
ShutdownWaitLength 0
GeoIPFile ""
GeoIPv6File ""
RunAsDaemon 0
`

func (n *Network) startNode(name, dir, torrc string) error {
	path := filepath.Join(dir, "torrc")
	torrc += fmt.Sprintf("DataDirectory %s\nLog notice file %s\n", dir, filepath.Join(dir, "notice.log"))
	if err := os.WriteFile(path, []byte(torrc), 0o600); err != nil {
		return err
	}
	// Not CommandContext: the network outlives Start's context and stops in Stop.
	// __OwningControllerProcess makes tor exit when this process dies, so a killed
	// test leaves no network behind.
	cmd := exec.Command(n.torPath, "-f", path, "--hush", "--__OwningControllerProcess", strconv.Itoa(os.Getpid()))
	cmd.Env = append(os.Environ(), "MALLOC_ARENA_MAX=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("tornet: start %s: %w", name, err)
	}
	nd := &node{name: name, dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(nd.done) }()
	n.mu.Lock()
	n.procs = append(n.procs, nd)
	n.mu.Unlock()
	select {
	case <-nd.done:
		return fmt.Errorf("tornet: %s exited at once: %s", name, stderr.String())
	case <-time.After(300 * time.Millisecond):
	}
	return nil
}

// fingerprint makes a node's identity key and returns its fingerprint.
func (n *Network) fingerprint(ctx context.Context, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, n.torPath, "--ignore-missing-torrc", "-f", filepath.Join(dir, "none"),
		"--DataDirectory", dir, "--ORPort", "1", "--list-fingerprint", "--hush")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("tornet: list-fingerprint: %v: %s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "fingerprint"))
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return "", fmt.Errorf("tornet: odd fingerprint file %q", b)
	}
	return f[1], nil
}

// AddClientAuth gives the client the x25519 private key (base32, no padding) for an
// onion service (address with or without ".onion") and makes it reread its keys.
func (n *Network) AddClientAuth(name, onion, privateB32 string) error {
	onion = strings.TrimSuffix(onion, ".onion")
	line := fmt.Sprintf("%s:descriptor:x25519:%s\n", onion, privateB32)
	if err := os.WriteFile(filepath.Join(n.ClientAuthDir, name+".auth_private"), []byte(line), 0o600); err != nil {
		return err
	}
	return n.hupClient()
}

// RemoveClientAuth deletes a key added with AddClientAuth.
func (n *Network) RemoveClientAuth(name string) error {
	if err := os.Remove(filepath.Join(n.ClientAuthDir, name+".auth_private")); err != nil {
		return err
	}
	return n.hupClient()
}

func (n *Network) hupClient() error {
	if n.client == nil {
		return errors.New("tornet: no client")
	}
	return n.client.cmd.Process.Signal(syscall.SIGHUP)
}

// Stop ends every process Start began, and only those.
func (n *Network) Stop() {
	n.mu.Lock()
	procs := n.procs
	n.procs = nil
	n.mu.Unlock()
	for _, p := range procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
		}
	}
}

func certFingerprint(cert []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cert))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "fingerprint" {
			return f[1]
		}
	}
	return ""
}

func countRouters(consensus []byte) int {
	c := 0
	for line := range bytes.SplitSeq(consensus, []byte("\n")) {
		if bytes.HasPrefix(line, []byte("r ")) {
			c++
		}
	}
	return c
}

func waitFor(ctx context.Context, limit time.Duration, ok func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for !ok() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	return nil
}

// freePort asks the kernel for an unused loopback port. Another process could take it
// before tor binds it; on a test machine that is rare enough.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0 // tor then refuses the port and Start reports it
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
