//go:build !race

package pgpmime

const raceEnabled = false
