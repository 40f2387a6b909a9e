package dashboard

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/cjm-dev/journey-operator/internal/journey"
)

// The flow is laid out here, in Go, so that the page shows it without any
// script. Stages are columns in spec order (the order a user reads the
// journey in), each node as tall as the users who passed through it, with
// the users there now as its solid lower part. A move to the next stage is a
// ribbon between neighbouring columns; a move that skips stages arcs over the
// columns in between on a lane above them; a move back to an earlier stage
// loops under them on a lane below. Lanes are stacked so that no two moves
// share the same stretch, shortest spans nearest the nodes, and the ports on
// each side of a node are ordered by where their ribbon goes, which keeps
// crossings few. Units are SVG user units; the SVG scales to the page.
const (
	sankeyWidth   = 1200.0 // at least; wider when stages need more room
	minStep       = 130.0  // between columns: a stage name and its counts fit
	nodeWidth     = 18.0
	marginLeft    = 96.0  // entry stubs and their labels, loops into the first stage
	marginRight   = 84.0  // loops of moves back out of the last stage
	headerHeight  = 62.0  // stage names and counts above the flow
	bandHeight    = 230.0 // the tallest node
	minLinkWidth  = 2.0
	minNodeHeight = 6.0
	laneGap       = 5.0
	clearance     = 20.0 // between a node and the lane above or below it, room for a label
	entryLength   = 30.0
)

// Link kinds, also the ribbon's CSS class.
const (
	linkEntry   = "entry"   // users whose first stage this is
	linkForward = "forward" // to the next stage
	linkSkip    = "skip"    // forward past stages
	linkBack    = "back"    // to an earlier stage
)

// stagePalette colours the stages in order; the last stage, where users
// churn, is always churnColor. Colours are tell-apart for the common forms of
// colour blindness and carry no meaning alone: every one is named in text.
var stagePalette = []string{"#4e79a7", "#f28e2b", "#59a14f", "#3f9c96", "#d4a62a", "#b07aa1", "#9c755f", "#e377c2", "#7f7f7f"}

const churnColor = "#d6434a"

type sankey struct {
	Width, Height string
	// Wide is set when the stages do not fit the page's width at a
	// readable size: the flow then scrolls sideways instead of shrinking.
	Wide  bool
	Nodes []sankeyNode
	Links []sankeyLink
	// Dropped counts transitions the page cannot draw: to or from a stage
	// the map does not have, or from a stage to itself. Transitions without
	// users are left out silently: there is nothing to draw.
	Dropped int
	Summary string
	// Last is the last stage, where users churn.
	Last string
}

type sankeyNode struct {
	Name, Description, Color string
	X, Y, W, H               string
	NowY, NowH               string
	HasNow                   bool
	// Header above the column.
	Label, LabelX, LabelAnchor string
	Now, Churn                 string
	Tooltip                    string
}

type sankeyLink struct {
	From, To, Kind, Color string
	Users                 int64
	Path, Width           string
	Label                 string
	LabelX, LabelY        string
	LabelAnchor           string
	Tooltip               string
}

type flowLink struct {
	from, to int // from is -1 for an entry
	users    int64
	kind     string
	w        float64
	lane     float64 // lane centre, skip and back only
	sy, ty   float64 // port centres
}

// layoutSankey places the stages and transitions; nil when there are no stages.
func layoutSankey(stages []journey.StageCount, transitions []journey.Transition, users int64) *sankey {
	n := len(stages)
	if n == 0 {
		return nil
	}
	index := make(map[string]int, n)
	for i, s := range stages {
		if _, dup := index[s.Name]; !dup {
			index[s.Name] = i
		}
	}

	sk := &sankey{}
	var links []*flowLink
	for _, t := range transitions {
		to, toOK := index[t.To]
		from, fromOK := -1, true // From "" is an entry
		if t.From != "" {
			from, fromOK = index[t.From]
		}
		if !toOK || !fromOK || from == to {
			sk.Dropped++
			continue
		}
		if t.Users <= 0 {
			continue // nothing to draw
		}
		l := &flowLink{from: from, to: to, users: t.Users}
		switch {
		case from < 0:
			l.kind = linkEntry
		case to == from+1:
			l.kind = linkForward
		case to > from:
			l.kind = linkSkip
		default:
			l.kind = linkBack
		}
		links = append(links, l)
	}

	// Scale: the largest of what entered a stage and what left it plus
	// who stayed gets bandHeight.
	in, out := make([]int64, n), make([]int64, n)
	for _, l := range links {
		in[l.to] += l.users
		if l.from >= 0 {
			out[l.from] += l.users
		}
	}
	var largest int64
	for i, s := range stages {
		largest = max(largest, in[i], out[i]+max(s.Users, 0))
	}
	scale := 0.0
	if largest > 0 {
		scale = bandHeight / float64(largest)
	}
	sumIn, sumOut := make([]float64, n), make([]float64, n)
	for _, l := range links {
		l.w = max(minLinkWidth, float64(l.users)*scale)
		sumIn[l.to] += l.w
		if l.from >= 0 {
			sumOut[l.from] += l.w
		}
	}
	nowH, height, top, bottom, x := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i, s := range stages {
		if s.Users > 0 {
			nowH[i] = max(2, float64(s.Users)*scale)
		}
		height[i] = max(minNodeHeight, sumIn[i], sumOut[i]+nowH[i])
		top[i], bottom[i] = -height[i]/2, height[i]/2
	}

	// Lanes. Slot 2c+1 is column c, slot 2c+2 the gap after it, slot 0 the
	// gap before the first column.
	slots := 2*n + 1
	ceiling := make([]float64, slots)
	floor := make([]float64, slots)
	for s := range slots {
		ceiling[s], floor[s] = math.Inf(1), math.Inf(-1)
	}
	for i := range n {
		ceiling[2*i+1] = top[i] - clearance
		floor[2*i+1] = bottom[i] + clearance
	}
	bySpan := func(a, b *flowLink) int {
		return cmp.Or(cmp.Compare(abs(a.to-a.from), abs(b.to-b.from)), cmp.Compare(a.from, b.from), cmp.Compare(a.to, b.to))
	}
	var skips, backs []*flowLink
	for _, l := range links {
		switch l.kind {
		case linkSkip:
			skips = append(skips, l)
		case linkBack:
			backs = append(backs, l)
		}
	}
	slices.SortStableFunc(skips, bySpan)
	slices.SortStableFunc(backs, bySpan)
	for _, l := range skips {
		// From the gap after the source to the gap before the target.
		lo, hi := 2*l.from+2, 2*l.to
		limit := math.Inf(1)
		for s := lo; s <= hi; s++ {
			limit = min(limit, ceiling[s])
		}
		l.lane = limit - l.w/2
		for s := lo; s <= hi; s++ {
			ceiling[s] = l.lane - l.w/2 - laneGap
		}
	}
	for _, l := range backs {
		// Under both ends too, with the loops in the gaps beside them.
		lo, hi := 2*l.to, 2*l.from+2
		limit := math.Inf(-1)
		for s := lo; s <= hi; s++ {
			limit = max(limit, floor[s])
		}
		l.lane = limit + l.w/2
		for s := lo; s <= hi; s++ {
			floor[s] = l.lane + l.w/2 + laneGap
		}
	}

	// Ports: on the right side, ribbons going up first, then across, then
	// down; on the left, new users, then from above, across, from below.
	rank := func(l *flowLink) (int, float64) {
		switch l.kind {
		case linkEntry:
			return 0, 0
		case linkSkip:
			return 1, l.lane
		case linkForward:
			return 2, 0
		default:
			return 3, l.lane
		}
	}
	byPort := func(a, b *flowLink) int {
		ra, la := rank(a)
		rb, lb := rank(b)
		return cmp.Or(cmp.Compare(ra, rb), cmp.Compare(la, lb))
	}
	for i := range n {
		var outs, ins []*flowLink
		for _, l := range links {
			if l.from == i {
				outs = append(outs, l)
			}
			if l.to == i {
				ins = append(ins, l)
			}
		}
		slices.SortStableFunc(outs, byPort)
		slices.SortStableFunc(ins, byPort)
		y := top[i]
		for _, l := range outs {
			l.sy = y + l.w/2
			y += l.w
		}
		y = top[i]
		for _, l := range ins {
			l.ty = y + l.w/2
			y += l.w
		}
	}

	// Columns, with room beside the outer ones for the loops of moves back
	// out of the last stage and into the first.
	left, right := marginLeft, marginRight
	for _, l := range backs {
		if l.from == n-1 {
			right = max(right, loopExtent(l.lane-l.sy, l.w))
		}
		if l.to == 0 {
			left = max(left, loopExtent(l.lane-l.ty, l.w))
		}
	}
	width, step := max(sankeyWidth, left+right+nodeWidth), 0.0
	if n > 1 {
		step = (width - left - right - nodeWidth) / float64(n-1)
		if step < minStep {
			step = minStep
			width = left + right + nodeWidth + float64(n-1)*step
		}
	}
	sk.Wide = width > sankeyWidth
	for i := range n {
		x[i] = left + float64(i)*step
	}

	// Bounds, then shift everything below the stage headers.
	minY, maxY := math.Inf(1), math.Inf(-1)
	for i := range n {
		minY, maxY = min(minY, top[i]), max(maxY, bottom[i])
	}
	for _, l := range skips {
		minY = min(minY, l.lane-l.w/2-8) // room for its label
	}
	for _, l := range backs {
		maxY = max(maxY, l.lane+l.w/2+8)
	}
	dy := headerHeight + 16 - minY
	sk.Width = num(width)
	sk.Height = num(maxY + dy + 12)

	gap := step - nodeWidth
	if n == 1 {
		gap = marginRight
	}
	d := min(gap*0.55, 120)
	maxChars := 40 // a stage name in bold is about 9.5 units a character
	if n > 1 {
		maxChars = max(6, int(step/9.5))
	}
	var summary []string
	for i, s := range stages {
		color := stagePalette[i%len(stagePalette)]
		if n > 1 && i == n-1 {
			color = churnColor
		}
		node := sankeyNode{
			Name: s.Name, Description: s.Description, Color: color,
			X: num(x[i]), Y: num(top[i] + dy), W: num(nodeWidth), H: num(height[i]),
			HasNow: nowH[i] > 0, NowY: num(bottom[i] - nowH[i] + dy), NowH: num(nowH[i]),
			Label:  shorten(s.Name, maxChars),
			LabelX: num(x[i] + nodeWidth/2), LabelAnchor: "middle",
			Now: count(s.Users) + " now",
		}
		if users > 0 && (n == 1 || step >= 150) {
			node.Now += " · " + percent(share(s.Users, users))
		}
		// Centred over the node, unless that would run off the edge.
		half := float64(max(len([]rune(node.Label)), len([]rune(node.Now)))) * 9.5 / 2
		switch centre := x[i] + nodeWidth/2; {
		case centre-half < 0:
			node.LabelX, node.LabelAnchor = num(x[i]), "start"
		case centre+half > width:
			node.LabelX, node.LabelAnchor = num(x[i]+nodeWidth), "end"
		}
		tip := fmt.Sprintf("%s: %s users now, %s moved in", s.Name, count(s.Users), count(in[i]))
		if n < 2 || i < n-1 {
			node.Churn = "churn " + percent(s.ChurnRate)
			tip += ", " + percent(s.ChurnRate) + " of those who reached it churned"
		}
		if s.Description != "" {
			tip += ". " + s.Description
		}
		node.Tooltip = tip
		sk.Nodes = append(sk.Nodes, node)
		summary = append(summary, s.Name+" "+count(s.Users))
	}
	sk.Last = stages[n-1].Name
	sk.Summary = fmt.Sprintf("%s and %s between them. Users now: %s.", plural(n, "stage"), plural(len(links), "transition"), strings.Join(summary, ", "))

	for _, l := range links {
		to := stages[l.to].Name
		from := ""
		sx, tx := 0.0, x[l.to]
		sy, ty := l.sy+dy, l.ty+dy
		color := stagePalette[l.to%len(stagePalette)]
		if l.from >= 0 {
			from = stages[l.from].Name
			sx = x[l.from] + nodeWidth
			color = stagePalette[l.from%len(stagePalette)]
		}
		if n > 1 && l.to == n-1 {
			color = churnColor
		}
		lane := l.lane + dy
		var path string
		var lx, ly float64
		anchor := "middle"
		switch l.kind {
		case linkEntry:
			path = fmt.Sprintf("M%s %sH%s", num(tx-entryLength), num(ty), num(tx))
			// Above the stub, clear of the ribbons arriving beside it.
			lx, ly, anchor = tx-2, ty-l.w/2-8, "end"
			if l.to == 0 {
				lx, anchor = tx-entryLength, "start"
			}
		case linkForward:
			mx := (sx + tx) / 2
			path = fmt.Sprintf("M%s %sC%s %s %s %s %s %s", num(sx), num(sy), num(mx), num(sy), num(mx), num(ty), num(tx), num(ty))
			lx, ly = mx, (sy+ty)/2
		case linkSkip:
			path = fmt.Sprintf("M%s %sC%s %s %s %s %s %sH%sC%s %s %s %s %s %s",
				num(sx), num(sy), num(sx+d/2), num(sy), num(sx+d/2), num(lane), num(sx+d), num(lane),
				num(tx-d), num(tx-d/2), num(lane), num(tx-d/2), num(ty), num(tx), num(ty))
			lx, ly = (sx+tx)/2, lane
		case linkBack:
			ks, kt := loopControl(lane-sy, l.w), loopControl(lane-ty, l.w)
			path = fmt.Sprintf("M%s %sC%s %s %s %s %s %sH%sC%s %s %s %s %s %s",
				num(sx), num(sy), num(sx+ks), num(sy), num(sx+ks), num(lane), num(sx), num(lane),
				num(tx), num(tx-kt), num(lane), num(tx-kt), num(ty), num(tx), num(ty))
			lx, ly = (sx+tx+nodeWidth)/2, lane
		}
		tip := fmt.Sprintf("%s → %s: %s users", from, to, count(l.users))
		if l.kind == linkEntry {
			tip = fmt.Sprintf("%s users started their journey in %s", count(l.users), to)
		}
		label := count(l.users)
		if l.kind == linkEntry {
			label = "+" + label + " new"
		}
		sk.Links = append(sk.Links, sankeyLink{
			From: from, To: to, Kind: l.kind, Color: color, Users: l.users,
			Path: path, Width: num(l.w),
			Label: label, LabelX: num(lx), LabelY: num(ly + 4), LabelAnchor: anchor,
			Tooltip: tip,
		})
	}
	// Thin ribbons on top of wide ones, so that none hides under another.
	slices.SortStableFunc(sk.Links, func(a, b sankeyLink) int { return cmp.Compare(b.Users, a.Users) })
	return sk
}

// loopControl is how far beside a node the control points of a loop of
// width w lie that turns over height h: round for short turns, flatter for
// long ones, never tighter than the ribbon is wide.
func loopControl(h, w float64) float64 {
	return min(max(h*0.6, 14), 60) + w/2
}

// loopExtent is how much room such a loop needs beside its node: the curve
// reaches three quarters of the way to its control points, the ribbon half
// its width beyond.
func loopExtent(h, w float64) float64 {
	k := loopControl(h, w)
	return max(k, 0.75*k+w/2) + 4
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

// shorten cuts a name to fit a column; the full name is in the tooltip.
func shorten(s string, maxRunes int) string {
	r := []rune(s)
	if len(r) <= maxRunes {
		return s
	}
	return string(r[:maxRunes-1]) + "…"
}
