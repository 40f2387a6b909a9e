package predict

import (
	"math"
	"sort"
)

// AUC is the area under the ROC curve of scores against labels: the chance
// that a random positive scores above a random negative (ties count half).
// It is NaN without both classes.
func AUC(scores, labels []float64) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var pos, neg, rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		rank := float64(i+j+1) / 2 // mean of ranks i+1..j
		for k := i; k < j; k++ {
			if labels[idx[k]] > 0.5 {
				pos++
				rankSum += rank
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// LiftTopDecile is the positive rate among the tenth of users scored
// highest over the rate among all.
func LiftTopDecile(scores, labels []float64) float64 {
	n := len(scores)
	if n == 0 {
		return math.NaN()
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	top := max(1, n/10)
	var hits, all float64
	for i, k := range idx {
		if labels[k] > 0.5 {
			all++
			if i < top {
				hits++
			}
		}
	}
	if all == 0 {
		return math.NaN()
	}
	return (hits / float64(top)) / (all / float64(n))
}

// CalibrationError is the expected calibration error over ten bins of
// predicted risk: the mean gap between predicted and observed rates,
// weighted by the users in each bin.
func CalibrationError(scores, labels []float64) float64 {
	const bins = 10
	var sumP, sumY, count [bins]float64
	for i, s := range scores {
		b := min(bins-1, int(s*bins))
		sumP[b] += s
		sumY[b] += labels[i]
		count[b]++
	}
	var e float64
	for b := range bins {
		if count[b] > 0 {
			e += math.Abs(sumP[b]-sumY[b]) / float64(len(scores))
		}
	}
	return e
}
