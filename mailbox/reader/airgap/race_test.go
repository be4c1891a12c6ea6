//go:build race

package airgap_test

const raceEnabled = true
