//go:build race

package pgpmime

// raceEnabled scales the streaming test down: the race detector makes
// OpenPGP 15x slower, and 24 MiB still exceeds the 16 MiB growth bound.
const raceEnabled = true
