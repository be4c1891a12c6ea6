package corpus

import "testing"

// The mix keeps its proportions and stays the same from run to run, so
// numbers measured on different days compare.
func TestSizesMix(t *testing.T) {
	const n = 10000
	s := Sizes(n)
	var small, medium, large int
	for _, v := range s {
		switch {
		case v >= SmallMin && v < SmallMax:
			small++
		case v >= MediumMin && v < MediumMax:
			medium++
		case v == Large:
			large++
		default:
			t.Fatalf("size %d is in no class", v)
		}
	}
	if small != 8500 || medium != 1400 || large != 100 {
		t.Errorf("mix %d/%d/%d, want 8500/1400/100", small, medium, large)
	}
	again := Sizes(n)
	for i := range s {
		if s[i] != again[i] {
			t.Fatalf("size %d differs between runs", i)
		}
	}
	if got := Total(s); got < 1_300_000_000 || got > 1_500_000_000 {
		t.Errorf("total %d bytes, want about 1.4 GB", got)
	}
}
