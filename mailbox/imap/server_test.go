package imapd

import (
	"testing"
)

func TestClientSuite(t *testing.T) {
	e := newEnv(t, "alice")
	runClientSuite(t, target{Addr: e.addr, User: "alice", Password: e.pass["alice"]})
}
