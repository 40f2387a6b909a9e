package dashboard

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"testing"

	"github.com/cjm-dev/journey-operator/internal/journey"
)

var numberRE = regexp.MustCompile(`-?[0-9]+(\.[0-9]+)?`)

func numbers(t *testing.T, s string) []float64 {
	t.Helper()
	var out []float64
	for _, m := range numberRE.FindAllString(s, -1) {
		f, err := strconv.ParseFloat(m, 64)
		if err != nil {
			t.Fatalf("%q in %q: %v", m, s, err)
		}
		out = append(out, f)
	}
	return out
}

func parse(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return f
}

// layouts the invariants are checked on: the realistic journey, one stage,
// the most stages a JourneyMap may have with moves in every direction, and
// users who only ever move back.
func layouts() map[string]journey.Snapshot {
	out := map[string]journey.Snapshot{"streaming": streamingSnapshot()}
	out["one stage"] = journey.Snapshot{Users: 5, Stages: []journey.StageCount{{Name: "Only", Users: 5}}, Transitions: []journey.Transition{{To: "Only", Users: 5}}}

	r := rand.New(rand.NewPCG(1, 2))
	var many journey.Snapshot
	for i := range 32 {
		many.Stages = append(many.Stages, journey.StageCount{Name: fmt.Sprintf("Stage-with-a-long-name-%02d", i), Users: r.Int64N(5000)})
		many.Users += many.Stages[i].Users
	}
	for range 120 {
		from, to := r.IntN(32), r.IntN(32)
		if from != to {
			many.Transitions = append(many.Transitions, journey.Transition{From: many.Stages[from].Name, To: many.Stages[to].Name, Users: 1 + r.Int64N(3000)})
		}
	}
	many.Transitions = append(many.Transitions, journey.Transition{To: many.Stages[0].Name, Users: 90000})
	out["32 stages"] = many

	out["backwards"] = journey.Snapshot{
		Users:  30,
		Stages: []journey.StageCount{{Name: "A", Users: 10}, {Name: "B", Users: 10}, {Name: "C", Users: 10}},
		Transitions: []journey.Transition{
			{To: "C", Users: 30}, {From: "C", To: "B", Users: 20}, {From: "B", To: "A", Users: 10}, {From: "C", To: "A", Users: 1},
		},
	}
	return out
}

func TestSankeyLayout(t *testing.T) {
	for name, s := range layouts() {
		t.Run(name, func(t *testing.T) {
			sk := layoutSankey(s.Stages, s.Transitions, s.Users)
			if len(sk.Nodes) != len(s.Stages) {
				t.Fatalf("%d nodes for %d stages", len(sk.Nodes), len(s.Stages))
			}
			if len(sk.Links) != len(s.Transitions) {
				t.Fatalf("%d links for %d transitions", len(sk.Links), len(s.Transitions))
			}
			w, h := parse(t, sk.Width), parse(t, sk.Height)
			if w < sankeyWidth || (w > sankeyWidth) != sk.Wide {
				t.Errorf("width %v, wide %v", w, sk.Wide)
			}
			type box struct{ x, y, w, h float64 }
			nodes := map[string]box{}
			for _, n := range sk.Nodes {
				b := box{parse(t, n.X), parse(t, n.Y), parse(t, n.W), parse(t, n.H)}
				nodes[n.Name] = b
				if b.x < 0 || b.y < headerHeight || b.x+b.w > w || b.y+b.h > h {
					t.Errorf("node %s at %+v is outside %vx%v or over the headers", n.Name, b, w, h)
				}
				if n.HasNow && (parse(t, n.NowY) < b.y-0.15 || parse(t, n.NowY)+parse(t, n.NowH) > b.y+b.h+0.15) {
					t.Errorf("node %s: its users-now part sticks out", n.Name)
				}
			}
			type lane struct{ x0, x1, y0, y1 float64 }
			var above, below []lane
			for _, l := range sk.Links {
				p := numbers(t, l.Path)
				for i := 0; i+1 < len(p); i += 2 {
					// H takes one number; the rest are pairs.
					if (l.Kind == linkSkip || l.Kind == linkBack) && i == 8 {
						i--
						continue
					}
					x, y := p[i], p[i+1]
					if x < 0 || x > w || y < headerHeight || y > h {
						t.Errorf("%s→%s: point (%v, %v) outside %vx%v or over the headers", l.From, l.To, x, y, w, h)
					}
				}
				lw := parse(t, l.Width)
				if lx, ly := parse(t, l.LabelX), parse(t, l.LabelY); lx < 0 || lx > w || ly < headerHeight || ly > h {
					t.Errorf("%s→%s: label at (%v, %v) outside", l.From, l.To, lx, ly)
				}
				switch l.Kind {
				case linkSkip, linkBack:
					y := p[7] // the lane: end of the first curve
					from, to := nodes[l.From], nodes[l.To]
					ln := lane{min(from.x, to.x), max(from.x, to.x), y - lw/2, y + lw/2}
					for _, n := range sk.Nodes {
						b := nodes[n.Name]
						if b.x <= ln.x0 || b.x >= ln.x1 {
							continue // not in between
						}
						if l.Kind == linkSkip && ln.y1 > b.y {
							t.Errorf("%s→%s arcs through %s (lane bottom %v, node top %v)", l.From, l.To, n.Name, ln.y1, b.y)
						}
						if l.Kind == linkBack && ln.y0 < b.y+b.h {
							t.Errorf("%s→%s loops through %s (lane top %v, node bottom %v)", l.From, l.To, n.Name, ln.y0, b.y+b.h)
						}
					}
					if l.Kind == linkSkip {
						above = append(above, ln)
					} else {
						below = append(below, ln)
					}
				}
			}
			// Lanes that run over the same stretch do not overlap.
			for _, lanes := range [][]lane{above, below} {
				for i, a := range lanes {
					for _, b := range lanes[i+1:] {
						if a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1-0.2 && b.y0 < a.y1-0.2 {
							t.Errorf("lanes overlap: %+v and %+v", a, b)
						}
					}
				}
			}
		})
	}
}

func TestSankeyDrops(t *testing.T) {
	sk := layoutSankey(
		[]journey.StageCount{{Name: "A", Users: 1}, {Name: "B", Users: 1}},
		[]journey.Transition{{From: "A", To: "B", Users: 1}, {From: "A", To: "Z", Users: 1}, {From: "Z", To: "A", Users: 1}, {From: "B", To: "B", Users: 1}, {From: "B", To: "A", Users: 0}},
		2)
	if len(sk.Links) != 1 || sk.Dropped != 3 {
		t.Errorf("%d links, %d dropped; want 1 and 3 (a move with no users is simply not drawn)", len(sk.Links), sk.Dropped)
	}
	if layoutSankey(nil, nil, 0) != nil {
		t.Errorf("a flow without stages")
	}
}
