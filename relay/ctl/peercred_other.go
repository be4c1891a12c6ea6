//go:build !linux

package ctl

import "net"

// peerAllowed relies on the socket's 0600 mode where SO_PEERCRED is missing.
func peerAllowed(net.Conn) error { return nil }
