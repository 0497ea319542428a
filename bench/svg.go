package main

import (
	"fmt"
	"html"
	"math"
	"slices"
	"strings"
	"time"
)

// colours gives each contender its colour: blues for this library, warm
// colours for the peers, greys for the floors.
var colours = map[string]string{
	"redlock/goredis": "#1f4e9c",
	"redlock/redigo":  "#3d7fd9",
	"redlock/rueidis": "#8ab8f0",
	"redlock/valkey":  "#0b2a5e",
	"redsync/goredis": "#b8470b",
	"redsync/redigo":  "#e6792e",
	"redsync/rueidis": "#f5b27a",
	"bsm/redislock":   "#2e8b57",
	"rueidislock":     "#7b4fa8",
	"floor/goredis":   "#6e6e6e",
	"floor/socket":    "#b4b4b4",
}

const (
	chartWidth  = 1200
	panelHeight = 280
	panelGap    = 105 // below a plot: the N labels and up to four lines of target notes
	marginLeft  = 80
	marginRight = 20
)

// chartPanel is one bar chart of the SVG: a figure's value per contender
// and pattern, grouped by N, with the targets of its goals.
type chartPanel struct {
	title string
	scale scaleKind
	value func(*result) float64 // in the panel's unit
	goals []*goal               // none: no target on this figure
}

// goalOf returns the goal of the named figure, nil if it has none.
func goalOf(figure string) *goal {
	for i := range goals {
		if goals[i].figure == figure {
			return &goals[i]
		}
	}
	return nil
}

// goalsOf returns the goals of the named figures.
func goalsOf(figures ...string) []*goal {
	var out []*goal
	for _, f := range figures {
		if g := goalOf(f); g != nil {
			out = append(out, g)
		}
	}
	return out
}

// chart draws grouped bars, one group per N and one bar per contender and
// pattern (the fresh pattern's bars pale, beside the reused ones):
// uncontended p50 latency, client CPU, throughput, contended acquisitions,
// hand-off, allocations, and the keep-alive figure's CPU. Where a figure
// has a target, a dashed line marks the bound (across the group when every
// contender there shares one reference, over each bar otherwise), and the
// measured ratios are written below.
func chart(e env, cfg config, results []*result, keep []*keepResult) string {
	var names, bases []string
	for _, r := range results {
		if !slices.Contains(names, r.label()) {
			names = append(names, r.label())
		}
		if !slices.Contains(bases, r.name) {
			bases = append(bases, r.name)
		}
	}
	groups := byN(cfg, results)
	panels := []chartPanel{
		{"Uncontended acquire+release, p50 (µs, lower is better)", linear,
			func(r *result) float64 { return float64(median(r.p50)) / float64(time.Microsecond) }, goalsOf("Uncontended latency")},
		{"Client CPU per acquire+release, process user+system time (µs, lower is better)", linear,
			func(r *result) float64 { return median(r.cpu) }, goalsOf("Client CPU")},
		{fmt.Sprintf("Throughput, %d goroutines on distinct keys (ops/s, higher is better)", cfg.throughput), linear,
			func(r *result) float64 { return median(r.throughput) }, goalsOf("Throughput", "Throughput, same client")},
		{fmt.Sprintf("Contended, %d goroutines trying one key: acquisitions/s (log scale, higher is better)", cfg.contended), logarithmic,
			func(r *result) float64 { return median(r.acquired) }, goalsOf("Contended, trying")},
		{fmt.Sprintf("Contended, %d goroutines waiting on one key: acquisitions/s (log scale, higher is better)", cfg.contended), logarithmic,
			func(r *result) float64 { return median(r.waited) }, goalsOf("Contended, waiting")},
		{"Hand-off, release to a waiting acquire returning, median (ms, log scale, lower is better)", logarithmic,
			func(r *result) float64 { return float64(median(r.handoff)) / float64(time.Millisecond) }, nil},
		{"Allocations per acquire+release (lower is better)", linear,
			func(r *result) float64 { return median(r.allocs) }, goalsOf("Allocations")},
	}

	// The keep-alive figure is one group of bars, one per backend, made
	// of results that carry only its value.
	var keepNames []string
	var keepGroup []*result
	keepCPU := map[*result]float64{}
	for _, k := range keep {
		r := &result{name: k.name, kind: ours, n: k.n}
		keepNames = append(keepNames, k.name)
		keepGroup = append(keepGroup, r)
		keepCPU[r] = k.cpu
	}
	nPanels := len(panels)
	if len(keep) > 0 {
		nPanels++
	}

	legendRows := (len(bases) + 1 + 4) / 5
	top := 70 + legendRows*20
	height := top + nPanels*(panelHeight+panelGap) + 10

	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif">`+"\n",
		chartWidth, height, chartWidth, height)
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	p(`<text x="%d" y="26" font-size="18" font-weight="bold">Redis locks: this library, its peers and the floor, per node count N</text>`+"\n", marginLeft)
	p(`<text x="%d" y="46" font-size="12" fill="#444">%s · %d CPUs, %s · %s · redis-server %s · medians of %d passes (%s run)</text>`+"\n",
		marginLeft, html.EscapeString(e.date), e.nproc, html.EscapeString(e.cpu), e.goVersion, html.EscapeString(e.redis), cfg.passes, e.mode)

	for i, name := range bases {
		x := marginLeft + (i%5)*200
		y := 64 + (i/5)*20
		p(`<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`+"\n", x, y, colour(name))
		p(`<text x="%d" y="%d" font-size="12">%s</text>`+"\n", x+17, y+10, html.EscapeString(name))
	}
	x, y := marginLeft+(len(bases)%5)*200, 64+(len(bases)/5)*20
	p(`<rect x="%d" y="%d" width="12" height="12" %s/>`+"\n", x, y, barStyle("#6e6e6e", fresh))
	p(`<text x="%d" y="%d" font-size="12">pale, right: (new), a new handle per acquisition</text>`+"\n", x+17, y+10)
	for i, pn := range panels {
		var cs []check
		for _, g := range pn.goals {
			cs = append(cs, g.checks(cfg, results)...)
		}
		panel(&b, top+i*(panelHeight+panelGap), pn, names, groups, cs)
	}
	if len(keep) > 0 {
		pn := chartPanel{fmt.Sprintf("Keep-alive: %d locks held at TTL %v, client CPU per held lock per second (µs, lower is better)", keep[0].locks, keep[0].ttl), linear,
			func(r *result) float64 { return keepCPU[r] }, nil}
		panel(&b, top+len(panels)*(panelHeight+panelGap), pn, keepNames, [][]*result{keepGroup}, nil)
	}
	p("</svg>\n")
	return b.String()
}

// scaleKind is a panel's value axis.
type scaleKind int

const (
	linear scaleKind = iota
	logarithmic
)

// mark is a target bound drawn on a panel, in the panel's unit: across
// the group of N when name is empty, over that contender's bar otherwise.
type mark struct {
	n     int
	name  string
	value float64
}

// marks returns where the bounds of cs fall in the panel's unit.
func marks(pn chartPanel, cs []check) []mark {
	var out []mark
	for _, c := range cs {
		if c.ref == nil || pn.value(c.ref) <= 0 {
			continue
		}
		m := mark{n: c.r.n, name: c.r.label(), value: pn.value(c.ref) * c.bound}
		shared := true
		for _, o := range cs {
			if o.r.n == c.r.n && (o.ref != c.ref || o.bound != c.bound) {
				shared = false
			}
		}
		if shared {
			m.name = ""
			if slices.Contains(out, m) {
				continue
			}
		}
		out = append(out, m)
	}
	return out
}

// panel draws one bar chart whose plot area starts at y = top.
func panel(b *strings.Builder, top int, pn chartPanel, names []string, groups [][]*result, cs []check) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	plotTop, plotBottom := top+30, top+panelHeight
	plotWidth := chartWidth - marginLeft - marginRight
	p(`<text x="%d" y="%d" font-size="14" font-weight="bold">%s</text>`+"\n", marginLeft, top+14, html.EscapeString(pn.title))
	ms := marks(pn, cs)

	lo, hi := math.Inf(1), 0.0
	for _, rs := range groups {
		for _, r := range rs {
			if v := pn.value(r); v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	for _, m := range ms {
		lo, hi = math.Min(lo, m.value), math.Max(hi, m.value)
	}
	var (
		ticks []float64
		scale func(v float64) float64
	)
	height := float64(plotBottom - plotTop)
	switch pn.scale {
	case logarithmic:
		if hi == 0 {
			lo, hi = 1, 10
		}
		from := math.Floor(math.Log10(lo / 2)) // the shortest bar stays visible
		to := math.Ceil(math.Log10(hi * 1.5))  // room for the value labels
		for e := from; e <= to; e++ {
			ticks = append(ticks, math.Pow(10, e))
		}
		scale = func(v float64) float64 {
			return float64(plotBottom) - (math.Log10(v)-from)/(to-from)*height
		}
	default:
		step, ceiling := axis(hi)
		for v := 0.0; v <= ceiling+step/2; v += step {
			ticks = append(ticks, v)
		}
		scale = func(v float64) float64 { return float64(plotBottom) - v/ceiling*height }
	}
	for _, v := range ticks {
		y := scale(v)
		p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e3e3e3"/>`+"\n", marginLeft, y, marginLeft+plotWidth, y)
		p(`<text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="#444">%s</text>`+"\n", marginLeft-6, y+4, tick(v))
	}
	p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444"/>`+"\n", marginLeft, plotBottom, marginLeft+plotWidth, plotBottom)

	if len(groups) == 0 {
		return
	}
	groupWidth := float64(plotWidth) / float64(len(groups))
	slot := (groupWidth - 30) / float64(len(names))
	for g, rs := range groups {
		n := rs[0].n
		x0 := float64(marginLeft) + float64(g)*groupWidth + 15
		mid := x0 + (groupWidth-30)/2
		p(`<text x="%.1f" y="%d" font-size="13" text-anchor="middle">N = %d</text>`+"\n", mid, plotBottom+20, n)
		for _, r := range rs {
			i := slices.Index(names, r.label())
			v := pn.value(r)
			if v <= 0 {
				continue
			}
			x := x0 + float64(i)*slot + slot*0.1
			y := scale(v)
			p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" %s><title>%s, N=%d: %s</title></rect>`+"\n",
				x, y, slot*0.8, float64(plotBottom)-y, barStyle(colour(r.name), r.pattern), html.EscapeString(r.label()), n, tick(v))
			cx := x + slot*0.4
			p(`<text x="%.1f" y="%.1f" font-size="10" fill="#333" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n",
				cx+3, y-4, cx+3, y-4, tick(v))
		}
		for _, m := range ms {
			if m.n != n {
				continue
			}
			x1, x2 := x0, x0+groupWidth-30
			if m.name != "" {
				i := slices.Index(names, m.name)
				x1, x2 = x0+float64(i)*slot, x0+float64(i+1)*slot
			}
			y := scale(m.value)
			p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="5 3"><title>target bound, N=%d: %s</title></line>`+"\n",
				x1, y, x2, y, n, tick(m.value))
		}
		targetNotes(b, mid, plotBottom, n, cs)
	}
}

// targetNotes writes, under a group of bars, the targets of the checks at
// n, one line per goal, and each contender's measured ratio, one line per
// pattern, green when met and red when missed.
func targetNotes(b *strings.Builder, mid float64, plotBottom, n int, cs []check) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	var at []check
	var gs []*goal
	for _, c := range cs {
		if c.r.n == n {
			at = append(at, c)
			if !slices.Contains(gs, c.goal) {
				gs = append(gs, c.goal)
			}
		}
	}
	if len(at) == 0 {
		return
	}
	var targets []string
	for _, g := range gs {
		// The reference is named when all the checks share it.
		against, who := "", []string{}
		for _, c := range at {
			if c.goal != g {
				continue
			}
			name := g.against
			if c.ref != nil {
				name = c.ref.name
			}
			if against == "" {
				against = name
			} else if against != name {
				against = g.against
			}
			if short := strings.TrimPrefix(c.r.name, "redlock/"); !slices.Contains(who, short) {
				who = append(who, short)
			}
		}
		t := fmt.Sprintf("%s %.2f× %s", g.op(), g.bound(n), against)
		if len(gs) > 1 {
			t = strings.Join(who, ", ") + " " + t
		}
		targets = append(targets, t)
	}
	for j, t := range targets {
		p(`<text x="%.1f" y="%d" font-size="11" text-anchor="middle" fill="#444">target %s (dashed)</text>`+"\n",
			mid, plotBottom+36+14*j, html.EscapeString(t))
	}
	for line, pat := range patterns {
		p(`<text x="%.1f" y="%d" font-size="11" text-anchor="middle" xml:space="preserve">`, mid, plotBottom+37+14*len(targets)+15*line)
		if pat == fresh {
			p(`<tspan fill="#444">new: </tspan>`)
		}
		first := true
		for _, c := range at {
			if c.r.pattern != pat {
				continue
			}
			fill, ratio := "#1e7b34", "—"
			if !c.met() {
				fill = "#c0392b"
			}
			if !math.IsNaN(c.ratio) {
				ratio = fmt.Sprintf("%.2f", c.ratio)
			}
			sep := " · "
			if first {
				sep, first = "", false
			}
			p(`<tspan fill="#444">%s%s </tspan><tspan fill="%s">%s</tspan>`, sep, html.EscapeString(strings.TrimPrefix(c.r.name, "redlock/")), fill, ratio)
		}
		p("</text>\n")
	}
}

// axis returns a round tick step and the axis ceiling for data up to hi,
// with about five ticks and room above the tallest bar for its label.
func axis(hi float64) (step, ceiling float64) {
	if hi <= 0 {
		return 1, 5
	}
	top := hi * 1.15
	raw := top / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	return step, step * math.Ceil(top/step)
}

func tick(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.3gk", v/1e3)
	case v >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

func colour(name string) string {
	if c, ok := colours[name]; ok {
		return c
	}
	return "#c9a227"
}

// barStyle is the fill of a bar: the contender's colour, pale with an
// outline for the fresh pattern.
func barStyle(colour string, p pattern) string {
	if p == fresh {
		return fmt.Sprintf(`fill="%s" fill-opacity="0.4" stroke="%s"`, colour, colour)
	}
	return fmt.Sprintf(`fill="%s"`, colour)
}
