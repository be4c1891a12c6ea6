// Command tornet runs a private Tor network on loopback until interrupted, for trying
// `relay serve` by hand with no internet: point the relay's tor_extra setting at the
// printed join file.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"postern/tools/tornet"
)

func main() {
	dir := flag.String("dir", "", "directory for the network's state (created; required)")
	relays := flag.Int("relays", 3, "number of non-authority relays")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "tornet: --dir is required")
		os.Exit(2)
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := tornet.Start(ctx, tornet.Options{Dir: *dir, Relays: *relays, Logf: log.Printf})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("SOCKS proxy:        %s\nclient auth dir:    %s\njoin torrc (%%include it): %s\n",
		n.SocksAddr, n.ClientAuthDir, n.JoinTorrc)
	<-ctx.Done()
	n.Stop()
}
