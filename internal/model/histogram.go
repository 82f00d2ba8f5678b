package model

import (
	"math"
	"math/bits"
)

// LatencyBuckets is the number of log2 buckets in a Histogram. Bucket 0
// holds values 0 and 1, bucket i (0 < i < LatencyBuckets-1) holds
// [2^i, 2^(i+1)), and the last bucket holds everything from 2^39 up.
const LatencyBuckets = 40

// Histogram is a log2 histogram with exact count, sum, min and max. The
// buckets are filled in the kernel; this type only merges and reads them.
type Histogram struct {
	Count   uint64
	Sum     uint64
	Min     uint64 // meaningful only when Count > 0
	Max     uint64
	Buckets [LatencyBuckets]uint64
}

// Bucket returns the bucket index a value falls in, as the kernel computes it.
func Bucket(v uint64) int {
	if v == 0 {
		return 0
	}
	b := bits.Len64(v) - 1
	if b >= LatencyBuckets {
		b = LatencyBuckets - 1
	}
	return b
}

// BucketBounds returns the smallest value of bucket i and the smallest value
// of the next one (math.MaxUint64 for the last bucket).
func BucketBounds(i int) (lo, hi uint64) {
	if i == 0 {
		return 0, 2
	}
	if i >= LatencyBuckets-1 {
		return 1 << uint(LatencyBuckets-1), math.MaxUint64
	}
	return 1 << uint(i), 1 << uint(i+1)
}

// Observe records one value (used by tests and pure-Go producers).
func (h *Histogram) Observe(v uint64) {
	if h.Count == 0 || v < h.Min {
		h.Min = v
	}
	if v > h.Max {
		h.Max = v
	}
	h.Count++
	h.Sum += v
	h.Buckets[Bucket(v)]++
}

// Add merges o into h.
func (h *Histogram) Add(o *Histogram) {
	if o.Count == 0 {
		return
	}
	if h.Count == 0 || o.Min < h.Min {
		h.Min = o.Min
	}
	if o.Max > h.Max {
		h.Max = o.Max
	}
	h.Count += o.Count
	h.Sum += o.Sum
	for i := range h.Buckets {
		h.Buckets[i] += o.Buckets[i]
	}
}

// Sub returns the values recorded in h but not in prev. Min and max cannot
// be un-merged: they are those of h.
func (h Histogram) Sub(prev *Histogram) Histogram {
	h.Count -= prev.Count
	h.Sum -= prev.Sum
	for i := range h.Buckets {
		h.Buckets[i] -= prev.Buckets[i]
	}
	if h.Count == 0 {
		h.Min, h.Max = 0, 0
	}
	return h
}

// Mean returns Sum/Count, 0 for an empty histogram.
func (h *Histogram) Mean() float64 {
	if h.Count == 0 {
		return 0
	}
	return float64(h.Sum) / float64(h.Count)
}

// Quantile returns an upper bound for the q-quantile (0 < q <= 1): the upper
// edge of the bucket that holds it, clamped to [Min, Max]. It is exact to
// within a factor of two, which is what a log2 histogram can say.
func (h *Histogram) Quantile(q float64) uint64 {
	if h.Count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.Count)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, n := range h.Buckets {
		seen += n
		if seen >= rank {
			_, hi := BucketBounds(i)
			v := hi - 1
			if hi == math.MaxUint64 {
				v = h.Max
			}
			if v > h.Max {
				v = h.Max
			}
			if v < h.Min {
				v = h.Min
			}
			return v
		}
	}
	return h.Max
}

// wentBackFrom reports whether a counter of h (count, sum or a bucket) is
// below prev's: prev is then not an earlier reading of h.
func (h *Histogram) wentBackFrom(prev *Histogram) bool {
	if h.Count < prev.Count || h.Sum < prev.Sum {
		return true
	}
	for i := range h.Buckets {
		if h.Buckets[i] < prev.Buckets[i] {
			return true
		}
	}
	return false
}
