package loadtest

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Charts are plain inline SVG, drawn here: the page needs no script and no network.

// Chart geometry, in SVG user units.
const (
	chartW     = 720
	chartH     = 260
	marginL    = 64
	marginR    = 16
	marginT    = 28
	marginB    = 44
	maxPoints  = 600
	chartClass = "chart"
)

// palette colours the series of a chart, in order.
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// lineSeries is one line of a line chart.
type lineSeries struct {
	name   string
	color  string
	dashed bool
	xs, ys []float64
}

// lineChart draws series over a shared x axis (seconds) and a linear y axis from 0. kind
// names the chart in its data-chart attribute.
func lineChart(kind, title, yUnit string, series []lineSeries) string {
	var xMax, yMax float64
	for _, s := range series {
		for i := range s.xs {
			xMax = math.Max(xMax, s.xs[i])
			yMax = math.Max(yMax, s.ys[i])
		}
	}
	xMax, yMax = math.Max(xMax, 1), niceCeil(math.Max(yMax, 1e-3))
	px := func(x float64) float64 { return marginL + x/xMax*(chartW-marginL-marginR) }
	py := func(y float64) float64 { return chartH - marginB - y/yMax*(chartH-marginT-marginB) }

	var sb strings.Builder
	openSVG(&sb, kind, title)
	axes(&sb, title, "seconds since start", yUnit)
	for _, t := range ticks(yMax) {
		fmt.Fprintf(&sb, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="grid"/><text x="%d" y="%.1f" class="tick" text-anchor="end">%s</text>`,
			marginL, py(t), chartW-marginR, py(t), marginL-6, py(t)+4, esc(num(t)))
	}
	for _, t := range ticks(xMax) {
		fmt.Fprintf(&sb, `<text x="%.1f" y="%d" class="tick" text-anchor="middle">%s</text>`, px(t), chartH-marginB+16, esc(num(t)))
	}
	for i, s := range series {
		if len(s.xs) == 0 {
			continue
		}
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="5 3"`
		}
		sb.WriteString(`<polyline fill="none" stroke-width="1.5" stroke="` + esc(s.color) + `"` + dash + ` points="`)
		for j := range s.xs {
			fmt.Fprintf(&sb, "%.1f,%.1f ", px(s.xs[j]), py(s.ys[j]))
		}
		sb.WriteString(`"><title>` + esc(s.name) + `</title></polyline>`)
		legend(&sb, i, s.name, s.color, s.dashed)
	}
	sb.WriteString("</svg>")
	return sb.String()
}

// barChart draws a histogram: one bar per bucket, labelled with its upper bound in ms.
func barChart(kind, title string, buckets []Bucket) string {
	var sb strings.Builder
	openSVG(&sb, kind, title)
	axes(&sb, title, "latency, ms (upper bound of each bucket)", "count")
	if len(buckets) == 0 {
		fmt.Fprintf(&sb, `<text x="%d" y="%d" class="tick" text-anchor="middle">no values</text></svg>`, chartW/2, chartH/2)
		return sb.String()
	}
	var yMax float64
	for _, b := range buckets {
		yMax = math.Max(yMax, float64(b.Count))
	}
	yMax = niceCeil(yMax)
	plotW := float64(chartW - marginL - marginR)
	bw := plotW / float64(len(buckets))
	py := func(y float64) float64 { return chartH - marginB - y/yMax*(chartH-marginT-marginB) }
	for _, t := range ticks(yMax) {
		fmt.Fprintf(&sb, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" class="grid"/><text x="%d" y="%.1f" class="tick" text-anchor="end">%s</text>`,
			marginL, py(t), chartW-marginR, py(t), marginL-6, py(t)+4, esc(num(t)))
	}
	every := max(1, len(buckets)/12)
	for i, b := range buckets {
		x := marginL + float64(i)*bw
		fmt.Fprintf(&sb, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>≤ %s ms: %d</title></rect>`,
			x+1, py(float64(b.Count)), math.Max(bw-2, 1), py(0)-py(float64(b.Count)), palette[0], esc(num(b.LeMs)), b.Count)
		if i%every == 0 {
			fmt.Fprintf(&sb, `<text x="%.1f" y="%d" class="tick" text-anchor="middle">%s</text>`, x+bw/2, chartH-marginB+16, esc(num(b.LeMs)))
		}
	}
	sb.WriteString("</svg>")
	return sb.String()
}

func openSVG(sb *strings.Builder, kind, title string) {
	fmt.Fprintf(sb, `<svg xmlns="http://www.w3.org/2000/svg" class="%s" data-chart="%s" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		chartClass, esc(kind), chartW, chartH, chartW, chartH, esc(title))
}

func axes(sb *strings.Builder, title, xLabel, yLabel string) {
	fmt.Fprintf(sb, `<text x="%d" y="18" class="title">%s</text>`, marginL, esc(title))
	fmt.Fprintf(sb, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>`, marginL, chartH-marginB, chartW-marginR, chartH-marginB)
	fmt.Fprintf(sb, `<line x1="%d" y1="%d" x2="%d" y2="%d" class="axis"/>`, marginL, marginT, marginL, chartH-marginB)
	fmt.Fprintf(sb, `<text x="%d" y="%d" class="label" text-anchor="middle">%s</text>`, (marginL+chartW-marginR)/2, chartH-8, esc(xLabel))
	fmt.Fprintf(sb, `<text x="14" y="%d" class="label" text-anchor="middle" transform="rotate(-90 14 %d)">%s</text>`,
		(marginT+chartH-marginB)/2, (marginT+chartH-marginB)/2, esc(yLabel))
}

func legend(sb *strings.Builder, i int, name, color string, dashed bool) {
	x := chartW - marginR - 250
	y := marginT + 4 + i*14
	dash := ""
	if dashed {
		dash = ` stroke-dasharray="5 3"`
	}
	fmt.Fprintf(sb, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/><text x="%d" y="%d" class="tick">%s</text>`,
		x, y, x+18, y, esc(color), dash, x+24, y+4, esc(name))
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// ticks returns about five round values from 0 to top.
func ticks(top float64) []float64 {
	step := niceCeil(top / 5)
	var out []float64
	for t := 0.0; t <= top*1.0001; t += step {
		out = append(out, round(t, 6))
	}
	return out
}

func esc(s string) string { return html.EscapeString(s) }

// downsample keeps at most maxPoints points of a series, merging neighbours: counts add up,
// the median is their count-weighted mean and the p99 and max their highest. It also returns
// how many seconds each point now covers.
func downsample(points []SeriesPoint) ([]SeriesPoint, float64) {
	if len(points) <= maxPoints {
		return points, seriesWindow.Seconds()
	}
	per := (len(points) + maxPoints - 1) / maxPoints
	out := make([]SeriesPoint, 0, maxPoints)
	for i := 0; i < len(points); i += per {
		group := points[i:min(i+per, len(points))]
		m := SeriesPoint{T: group[0].T}
		var weighted float64
		for _, p := range group {
			m.Count += p.Count
			weighted += p.P50Ms * float64(p.Count)
			m.P99Ms = math.Max(m.P99Ms, p.P99Ms)
			m.MaxMs = math.Max(m.MaxMs, p.MaxMs)
		}
		if m.Count > 0 {
			m.P50Ms = round(weighted/float64(m.Count), 3)
		}
		out = append(out, m)
	}
	return out, float64(per) * seriesWindow.Seconds()
}
