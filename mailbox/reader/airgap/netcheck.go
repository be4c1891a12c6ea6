package airgap

import (
	"net"
)

// OnlineInterfaces lists the network interfaces, other than loopback, that
// are up and running: on an air-gapped machine there are none. Inside a
// network namespace with no network (unshare -n) only a loopback exists.
func OnlineInterfaces() ([]string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var up []string
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback != 0 {
			continue
		}
		if i.Flags&net.FlagUp != 0 && i.Flags&net.FlagRunning != 0 {
			up = append(up, i.Name)
		}
	}
	return up, nil
}
