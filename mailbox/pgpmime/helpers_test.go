package pgpmime

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"runtime"
	"unicode/utf8"
)

type runtimeMemStats = runtime.MemStats

func readMemStats(m *runtime.MemStats) { runtime.GC(); runtime.ReadMemStats(m) }

func base64Std(b []byte) string  { return base64.StdEncoding.EncodeToString(b) }
func bytesHex(b []byte) string   { return hex.EncodeToString(b) }
func errorsIs(err, t error) bool { return errors.Is(err, t) }
func utf8Valid(s string) bool    { return utf8.ValidString(s) }
