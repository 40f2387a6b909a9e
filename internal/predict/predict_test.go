package predict

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// The model is judged on a later period than it was trained on, on users
// and outcomes it never saw, against the truth the generator knows and the
// map's own rule (being in AtRisk).
func TestHeldOutAgainstTruthAndRule(t *testing.T) {
	users := synthetic(8000, 1)
	s := synthSpec()
	res, err := Train(context.Background(), synthHistory(users), s)
	if err != nil {
		t.Fatal(err)
	}
	h := res.HeldOut
	// The truth's AUC on the same held-out users.
	cut := float64(synthDays - 30)
	var truth, labels []float64
	for i := range users {
		u := &users[i]
		if float64(u.signup) > cut || u.churn <= cut {
			continue
		}
		truth = append(truth, u.truth(cut, 30))
		labels = append(labels, b2f(u.churn > cut && u.churn <= cut+30))
	}
	truthAUC := AUC(truth, labels)
	t.Logf("held out: %d users, %d positives; AUC %.3f, truth %.3f, rule %.3f; lift %.2f; calibration error %.3f",
		h.Users, h.Positives, h.AUC, truthAUC, h.BaselineAUC, h.LiftTopDecile, h.CalibrationError)
	if h.Users != len(truth) {
		t.Fatalf("held out %d users, the truth counts %d", h.Users, len(truth))
	}
	if h.AUC < truthAUC-0.03 {
		t.Errorf("held-out AUC %.3f is more than 0.03 below the truth's %.3f", h.AUC, truthAUC)
	}
	if h.AUC < h.BaselineAUC+0.05 {
		t.Errorf("held-out AUC %.3f does not beat the rule's %.3f by 0.05", h.AUC, h.BaselineAUC)
	}
	if h.CalibrationError > 0.03 {
		t.Errorf("calibration error %.3f, want at most 0.03", h.CalibrationError)
	}
	if h.LiftTopDecile < 2 {
		t.Errorf("lift in the top decile %.2f, want at least 2", h.LiftTopDecile)
	}
}

// The drivers planted come out with the right sign: a failed payment and
// the basic plan raise the risk, streaming lowers it.
func TestPlantedDriversHaveTheirSign(t *testing.T) {
	res, err := Train(context.Background(), synthHistory(synthetic(8000, 2)), synthSpec())
	if err != nil {
		t.Fatal(err)
	}
	w := map[string]float64{}
	for i, n := range res.Model.Names {
		w[n] = res.Model.Weights[i]
	}
	for _, c := range []struct {
		feature string
		sign    float64
	}{
		{"billing: invoice.payment_failed events, last 30d (log)", 1},
		{"plan = basic", 1},
		{"plan = premium", -1},
		{"playback: minutes, last 30d (signed log)", -1},
	} {
		v, ok := w[c.feature]
		if !ok {
			t.Errorf("no feature %q among %v", c.feature, res.Model.Names)
			continue
		}
		if v*c.sign <= 0 {
			t.Errorf("%s: weight %.3f, want sign %+.0f", c.feature, v, c.sign)
		}
	}
}

// With the labels shuffled there is nothing to learn: held out, the model
// does no better than chance.
func TestShuffledLabelsGiveChance(t *testing.T) {
	users := synthetic(8000, 3)
	s := synthSpec()
	dict := NewDictionary()
	x := &Extractor{Dict: dict, Touchpoints: s.Touchpoints, Segments: s.Segments, Grow: true}
	t2 := s.AsOf.Add(-s.Horizon)
	t1 := t2.Add(-s.Horizon)
	var train, test []example
	for i := range users {
		if e, ok := exampleAt(x, users[i].events, users[i].entered, t1, s.Horizon, s.Stages, 2, "AtRisk"); ok {
			train = append(train, e)
		}
		if e, ok := exampleAt(x, users[i].events, users[i].entered, t2, s.Horizon, s.Stages, 2, "AtRisk"); ok {
			test = append(test, e)
		}
	}
	r := rand.New(rand.NewPCG(9, 9))
	r.Shuffle(len(train), func(i, j int) { train[i].label, train[j].label = train[j].label, train[i].label })
	rows, y := split(train)
	m, err := Fit(dict.Names, rows, y, DefaultLambda)
	if err != nil {
		t.Fatal(err)
	}
	if auc := evaluate(m, test, t2).AUC; math.Abs(auc-0.5) > 0.05 {
		t.Errorf("trained on shuffled labels, held-out AUC %.3f, want about 0.5", auc)
	}
}

// Features as of a cutoff read nothing after it: changing, adding or
// removing later events changes no feature.
func TestNoEventAfterTheCutoffLeaksIn(t *testing.T) {
	users := synthetic(300, 4)
	s := synthSpec()
	cut := day(70)
	dict := NewDictionary()
	x := &Extractor{Dict: dict, Touchpoints: s.Touchpoints, Segments: s.Segments, Grow: true}
	for i := range users {
		u := users[i]
		stage, at := StageAt(s.Stages, u.entered, cut)
		before := x.Features(u.events, cut, stage, at)
		var later []Event
		for _, e := range u.events {
			if !e.At.After(cut) {
				later = append(later, e)
			}
		}
		// Another future: a flood of failures, a plan change and heavy
		// streaming, all after the cutoff.
		for d := 71.0; d < 100; d++ {
			amount := -50.0
			later = append(later,
				Event{Touchpoint: "billing", Type: "invoice.payment_failed", At: day(d), Amount: &amount, Attributes: []byte(`{"plan":"basic","minutes":999}`)},
				Event{Touchpoint: "support", Type: "ticket", At: day(d + 0.5)})
		}
		after := x.Features(later, cut, stage, at)
		if !equalRows(before, after) {
			t.Fatalf("user %s: features as of day 70 changed with events after it:\n%v\n%v", u.id, before, after)
		}
	}
}

func equalRows(a, b Sparse) bool {
	if len(a.Cols) != len(b.Cols) {
		return false
	}
	for i := range a.Cols {
		if a.Cols[i] != b.Cols[i] || a.Vals[i] != b.Vals[i] {
			return false
		}
	}
	return true
}

// Only users with a first event by the cutoff who have not churned by it
// are examples; the label is churning within the horizon after.
func TestExamplesAndLabels(t *testing.T) {
	x := &Extractor{Dict: NewDictionary(), Touchpoints: []string{"billing"}, Grow: true}
	ev := []Event{{Touchpoint: "billing", Type: "invoice.paid", At: day(10)}}
	h := 30 * 24 * time.Hour
	for _, c := range []struct {
		name    string
		entered []time.Time
		events  []Event
		cut     float64
		ok      bool
		label   float64
		base    float64
	}{
		{"not signed up yet", []time.Time{day(10), {}, {}}, ev, 5, false, 0, 0},
		{"churned before", []time.Time{day(10), day(12), day(20)}, ev, 30, false, 0, 0},
		{"churns within", []time.Time{day(10), day(12), day(40)}, ev, 30, true, 1, 1},
		{"churns on the horizon's last instant", []time.Time{day(10), {}, day(60)}, ev, 30, true, 1, 0},
		{"churns after", []time.Time{day(10), {}, day(61)}, ev, 30, true, 0, 0},
		{"AtRisk later, not as of the cutoff", []time.Time{day(10), day(35), {}}, ev, 30, true, 0, 0},
	} {
		e, ok := exampleAt(x, c.events, c.entered, day(c.cut), h, synthStages, 2, "AtRisk")
		if ok != c.ok || (ok && (e.label != c.label || e.baseline != c.base)) {
			t.Errorf("%s: ok %v label %v baseline %v, want %v %v %v", c.name, ok, e.label, e.baseline, c.ok, c.label, c.base)
		}
	}
}

func TestMetrics(t *testing.T) {
	if a := AUC([]float64{0.1, 0.4, 0.35, 0.8}, []float64{0, 0, 1, 1}); a != 0.75 {
		t.Errorf("AUC = %v, want 0.75", a)
	}
	if a := AUC([]float64{1, 1, 0, 0}, []float64{1, 0, 1, 0}); a != 0.5 {
		t.Errorf("AUC of a tie-ridden rule = %v, want 0.5", a)
	}
	if !math.IsNaN(AUC([]float64{1, 2}, []float64{1, 1})) {
		t.Error("AUC of one class should be NaN")
	}
	scores := make([]float64, 100)
	labels := make([]float64, 100)
	for i := range scores {
		scores[i] = float64(i) / 100
	}
	for i := 90; i < 100; i++ {
		labels[i] = 1 // all positives in the top decile
	}
	labels[0] = 1
	if l := LiftTopDecile(scores, labels); math.Abs(l-100.0/11) > 1e-9 {
		t.Errorf("lift = %v, want %v", l, 100.0/11)
	}
	if c := CalibrationError([]float64{0.1, 0.1, 0.9, 0.9}, []float64{0, 0, 1, 1}); math.Abs(c-0.1) > 1e-9 {
		t.Errorf("calibration error = %v, want 0.1", c)
	}
}

// A history with too little to learn from is refused with what is missing.
func TestNotEnoughHistory(t *testing.T) {
	users := synthetic(200, 5)
	s := synthSpec()
	s.AsOf = day(40) // the training cutoff falls before anyone signed up
	_, err := Train(context.Background(), synthHistory(users), s)
	if err == nil || !strings.Contains(err.Error(), "not enough history") || !strings.Contains(err.Error(), "Churned") {
		t.Fatalf("Train = %v", err)
	}
}

// Scoring covers the users who have not churned as of AsOf, with the
// factors that push each one's risk up.
func TestScore(t *testing.T) {
	users := synthetic(4000, 6)
	s := synthSpec()
	res, err := Train(context.Background(), synthHistory(users), s)
	if err != nil {
		t.Fatal(err)
	}
	alive := 0
	for _, u := range users {
		if u.churn >= synthDays {
			alive++
		}
	}
	byStage := Groups{}
	n := 0
	err = Score(context.Background(), synthHistory(users), s, res, 3, func(u UserRisk) error {
		n++
		byStage.Add(u.Stage, u.Risk)
		if u.Risk <= 0 || u.Risk >= 1 || len(u.Factors) > 3 || len(u.Segments) != 1 {
			t.Fatalf("user %+v", u)
		}
		for i := 1; i < len(u.Factors); i++ {
			if u.Factors[i].Push > u.Factors[i-1].Push {
				t.Fatalf("factors not strongest first: %+v", u.Factors)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != alive {
		t.Fatalf("scored %d users, %d have not churned", n, alive)
	}
	g := map[string]Group{}
	for _, x := range byStage.Sorted() {
		g[x.Name] = x
	}
	if g["AtRisk"].ExpectedChurn <= g["Active"].ExpectedChurn {
		t.Errorf("AtRisk's expected churn %.3f is not above Active's %.3f", g["AtRisk"].ExpectedChurn, g["Active"].ExpectedChurn)
	}
}
