package intake

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/db"
)

// The applier applies together only reports that commute: vends, each for a request of its
// own. Anything else, or a second vend of a request, waits for what came before it.
func TestCommutingRun(t *testing.T) {
	now := time.Now()
	report := func(control string, kind cabinet.EventKind, request string, due time.Time) db.InboxReport {
		raw, err := json.Marshal(cabinet.Event{MessageControlID: control, Kind: kind, RequestID: request})
		if err != nil {
			t.Fatal(err)
		}
		return db.InboxReport{MessageControlID: control, Kind: string(kind), Report: raw, NextAttemptAt: due}
	}
	const a, b, c = "medreq-01JQ7ZK3V8XG4N2P5R6S7T8W9A", "medreq-01JQ7ZK3V8XG4N2P5R6S7T8W9B", "medreq-01JQ7ZK3V8XG4N2P5R6S7T8W9C"
	vend := func(control, request string) db.InboxReport { return report(control, cabinet.EventVend, request, now) }
	count := report("C", cabinet.EventCount, "", now)
	later := now.Add(time.Minute)
	controls := func(rs []db.InboxReport) []string {
		out := []string{}
		for _, r := range rs {
			out = append(out, r.MessageControlID)
		}
		return out
	}
	many := []db.InboxReport{}
	for i := range 10 {
		many = append(many, vend(string(rune('A'+i)), "medreq-01JQ7ZK3V8XG4N2P5R6S7T8W9"+string(rune('A'+i))))
	}
	for name, tc := range map[string]struct {
		q    []db.InboxReport
		want []string
	}{
		"vends of three requests go together":        {[]db.InboxReport{vend("1", a), vend("2", b), vend("3", c)}, []string{"1", "2", "3"}},
		"a second vend of a request waits":           {[]db.InboxReport{vend("1", a), vend("2", b), vend("3", a)}, []string{"1", "2"}},
		"a count waits for the vends before it":      {[]db.InboxReport{vend("1", a), count, vend("2", b)}, []string{"1"}},
		"a count goes alone":                         {[]db.InboxReport{count, vend("1", a)}, []string{"C"}},
		"a vend of several orders goes alone":        {[]db.InboxReport{vend("1", ""), vend("2", a)}, []string{"1"}},
		"a vend naming another system's order alone": {[]db.InboxReport{vend("1", "PHARM-77"), vend("2", a)}, []string{"1"}},
		"at most maxRun":                             {many, []string{"A", "B", "C", "D", "E", "F", "G", "H"}},
		"a report not due yet ends the run":          {[]db.InboxReport{vend("1", a), report("2", cabinet.EventVend, b, later)}, []string{"1"}},
		"nothing when the first is not due":          {[]db.InboxReport{report("1", cabinet.EventVend, a, later), vend("2", b)}, []string{}},
		"an unreadable report goes alone":            {[]db.InboxReport{{MessageControlID: "X", Kind: "V", Report: []byte("{"), NextAttemptAt: now}, vend("2", a)}, []string{"X"}},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, controls(commutingRun(tc.q)))
		})
	}
}
