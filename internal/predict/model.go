package predict

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// Model is a logistic regression over standardised features.
type Model struct {
	// Names of the features, as the dictionary had them when trained.
	Names []string
	// Mean and Scale standardise each feature; Weights multiply the
	// standardised values; Bias is the intercept.
	Mean, Scale, Weights []float64
	Bias                 float64
}

// Name says what kind of model this is, for status.
func (m *Model) Name() string { return "logistic" }

// dense writes a sparse row into x (len = features), zeroing the rest.
func dense(x []float64, r Sparse) {
	clear(x)
	for i, c := range r.Cols {
		if int(c) < len(x) {
			x[c] = float64(r.Vals[i])
		}
	}
}

// ErrNoSignal is returned when the training examples hold only one class.
var ErrNoSignal = errors.New("the training period has only one outcome")

// Fit trains a model on rows with labels y (0 or 1), with an L2 penalty of
// lambda on the standardised weights.
func Fit(names []string, rows []Sparse, y []float64, lambda float64) (*Model, error) {
	n, p := len(rows), len(names)
	if n == 0 {
		return nil, errors.New("no training examples")
	}
	pos := 0.0
	for _, v := range y {
		pos += v
	}
	if pos == 0 || pos == float64(n) {
		return nil, ErrNoSignal
	}
	m := &Model{Names: append([]string(nil), names...), Mean: make([]float64, p), Scale: make([]float64, p), Weights: make([]float64, p)}
	// Standardise: features differ by orders of magnitude, and the penalty
	// should weigh each alike.
	x := make([]float64, p)
	sq := make([]float64, p)
	for _, r := range rows {
		dense(x, r)
		for j, v := range x {
			m.Mean[j] += v
			sq[j] += v * v
		}
	}
	for j := range m.Mean {
		m.Mean[j] /= float64(n)
		v := sq[j]/float64(n) - m.Mean[j]*m.Mean[j]
		m.Scale[j] = 1
		if v > 1e-12 {
			m.Scale[j] = math.Sqrt(v)
		}
	}
	z := make([][]float64, n)
	for i, r := range rows {
		dense(x, r)
		z[i] = make([]float64, p)
		for j := range x {
			z[i][j] = (x[j] - m.Mean[j]) / m.Scale[j]
		}
	}
	// Minimise the mean log loss plus lambda/2 |w|^2; params are bias, w.
	prob := optimize.Problem{
		Func: func(w []float64) float64 {
			loss := 0.0
			for i := range z {
				s := w[0]
				for j, v := range z[i] {
					s += w[j+1] * v
				}
				loss += logLoss(s, y[i])
			}
			reg := 0.0
			for _, v := range w[1:] {
				reg += v * v
			}
			return loss/float64(n) + lambda/2*reg
		},
		Grad: func(g, w []float64) {
			clear(g)
			for i := range z {
				s := w[0]
				for j, v := range z[i] {
					s += w[j+1] * v
				}
				d := sigmoid(s) - y[i]
				g[0] += d
				for j, v := range z[i] {
					g[j+1] += d * v
				}
			}
			for j := range g {
				g[j] /= float64(n)
			}
			for j := 1; j < len(g); j++ {
				g[j] += lambda * w[j]
			}
		},
	}
	init := make([]float64, p+1)
	init[0] = math.Log(pos / (float64(n) - pos))
	res, err := optimize.Minimize(prob, init, &optimize.Settings{GradientThreshold: 1e-7, MajorIterations: 500}, &optimize.LBFGS{})
	if err != nil && res == nil {
		return nil, fmt.Errorf("fitting the model: %w", err)
	}
	m.Bias = res.X[0]
	copy(m.Weights, res.X[1:])
	return m, nil
}

func sigmoid(s float64) float64 {
	if s >= 0 {
		return 1 / (1 + math.Exp(-s))
	}
	e := math.Exp(s)
	return e / (1 + e)
}

// logLoss is -log p(y | s) for a logit s, computed without overflow.
func logLoss(s, y float64) float64 {
	// log(1+exp(s)) - y*s
	var l float64
	if s > 0 {
		l = s + math.Log1p(math.Exp(-s))
	} else {
		l = math.Log1p(math.Exp(s))
	}
	return l - y*s
}

// Factor is one feature's push on a user's risk: its weight times how far
// the user's value is from the average, in standard deviations.
type Factor struct {
	Feature string
	Value   float64 // the feature's raw value
	Push    float64 // its contribution to the logit
}

// Score returns the risk of a row (0..1), and, when k > 0, the k features
// that push it up the most.
func (m *Model) Score(r Sparse, k int) (float64, []Factor) {
	x := make([]float64, len(m.Weights))
	dense(x, r)
	s := m.Bias
	var factors []Factor
	for j, v := range x {
		c := m.Weights[j] * (v - m.Mean[j]) / m.Scale[j]
		s += c
		if k > 0 && c > 0 {
			factors = append(factors, Factor{Feature: m.Names[j], Value: v, Push: c})
		}
	}
	if k > 0 {
		sortFactors(factors)
		if len(factors) > k {
			factors = factors[:k]
		}
	}
	return sigmoid(s), factors
}

func sortFactors(f []Factor) {
	for i := 1; i < len(f); i++ {
		for j := i; j > 0 && f[j].Push > f[j-1].Push; j-- {
			f[j], f[j-1] = f[j-1], f[j]
		}
	}
}
