// Package corpus is the realistic message-size mix every mailbox benchmark
// and large-mailbox test uses, so that they all measure the same mail: most
// newsroom mail is 2–20 KiB, some 100 KiB–1 MiB, a few 5 MiB. A corpus of
// small messages alone flattered the relay (docs/benchmarks.md).
package corpus

import "math/rand/v2"

// Size classes of the mix.
const (
	SmallMin  = 2 << 10
	SmallMax  = 20 << 10
	MediumMin = 100 << 10
	MediumMax = 1 << 20
	Large     = 5 << 20
)

// Sizes returns n message sizes in bytes: 85% 2–20 KiB, 14% 100 KiB–1 MiB,
// 1% 5 MiB (proportions exact for n a multiple of 100), shuffled with a
// fixed seed so that every run and every server gets the same sequence.
func Sizes(n int) []int {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := make([]int, n)
	for i := range sizes {
		switch p := i * 100 / n; {
		case p < 85:
			sizes[i] = SmallMin + r.IntN(SmallMax-SmallMin)
		case p < 99:
			sizes[i] = MediumMin + r.IntN(MediumMax-MediumMin)
		default:
			sizes[i] = Large
		}
	}
	r.Shuffle(n, func(i, j int) { sizes[i], sizes[j] = sizes[j], sizes[i] })
	return sizes
}

// Total is the sum of sizes.
func Total(sizes []int) int64 {
	var t int64
	for _, s := range sizes {
		t += int64(s)
	}
	return t
}
