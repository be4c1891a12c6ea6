//go:build !unix

package web

import "errors"

func freeBytes(string) (uint64, error) { return 0, errors.New("no disk statistics here") }
