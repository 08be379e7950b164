package api

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis/db"
)

// RegisterView is the controlled-substance register of a period, as JSON.
type RegisterView struct {
	List        string                   `json:"list,omitempty"`
	From        time.Time                `json:"from"`
	To          time.Time                `json:"to"`
	Medications []RegisterMedicationView `json:"medications"`
}

// RegisterMedicationView is one medication's page of the register.
type RegisterMedicationView struct {
	MedicationID   int64                  `json:"medication_id"`
	Code           string                 `json:"code"`
	Name           string                 `json:"name"`
	ControlledList string                 `json:"controlled_list"`
	OpeningBalance int32                  `json:"opening_balance"`
	ClosingBalance int32                  `json:"closing_balance"`
	Movements      []RegisterMovementView `json:"movements"`
}

// RegisterMovementView is one movement, with the balance across all cabinets after it.
type RegisterMovementView struct {
	At           time.Time `json:"at"`
	Kind         string    `json:"kind"`
	Quantity     int32     `json:"quantity"`
	BalanceAfter int32     `json:"balance_after"`
	Cabinet      string    `json:"cabinet"`
	RequestID    string    `json:"request_id,omitempty"`
	ActorID      string    `json:"actor_id"`
	ActorRole    string    `json:"actor_role"`
	WitnessID    string    `json:"witness_id,omitempty"`
}

// controlledRegister serves GET /v1/controlled/register?list=&from=&to=&format=json|csv.
// from and to are RFC 3339 times or dates (a date "to" includes that whole day); the default
// period is the current month up to now.
func (s *Server) controlledRegister(c *gin.Context, p ControlledRegisterParams) {
	var fe fields
	list := strings.ToUpper(deref(p.List))
	if list != "" && !slices.Contains(db.ControlledLists, list) {
		fe.add("list", "must be one of %s", strings.Join(db.ControlledLists, ", "))
	}
	now := time.Now().UTC()
	from := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	to := now
	if v := deref(p.From); v != "" {
		t, err := parsePeriodBound(v, false)
		if err != nil {
			fe.add("from", "must be a date (2026-11-01) or an RFC 3339 time")
		}
		from = t
	}
	if v := deref(p.To); v != "" {
		t, err := parsePeriodBound(v, true)
		if err != nil {
			fe.add("to", "must be a date (2026-11-30) or an RFC 3339 time")
		}
		to = t
	}
	format := "json"
	if p.Format != nil {
		format = string(*p.Format)
	}
	if format != "json" && format != "csv" {
		fe.add("format", "must be json or csv")
	}
	if len(fe) == 0 && !to.After(from) {
		fe.add("to", "must be after from")
	}
	if err := fe.err(); err != nil {
		abort(c, err)
		return
	}
	reg, err := s.stock.ControlledRegister(c.Request.Context(), list, from, to)
	if err != nil {
		abort(c, err)
		return
	}
	view := registerView(list, reg)
	if format == "csv" {
		writeRegisterCSV(c, view)
		return
	}
	c.JSON(http.StatusOK, view)
}

// parsePeriodBound reads a period bound; a bare date used as the end covers that whole day.
func parsePeriodBound(v string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, err
	}
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

func registerView(list string, reg db.Register) RegisterView {
	v := RegisterView{List: list, From: reg.From, To: reg.To, Medications: make([]RegisterMedicationView, len(reg.Medications))}
	for i, m := range reg.Medications {
		page := RegisterMedicationView{
			MedicationID: m.MedicationID, Code: m.Code, Name: m.Name, ControlledList: m.ControlledList,
			OpeningBalance: m.Opening, ClosingBalance: m.Closing, Movements: make([]RegisterMovementView, len(m.Movements)),
		}
		for j, mv := range m.Movements {
			page.Movements[j] = RegisterMovementView{
				At: mv.At, Kind: mv.Kind, Quantity: mv.Quantity, BalanceAfter: mv.BalanceAfter, Cabinet: mv.CabinetCode,
				RequestID: mv.RequestID, ActorID: mv.Actor.ID, ActorRole: mv.Actor.Role, WitnessID: mv.WitnessID,
			}
		}
		v.Medications[i] = page
	}
	return v
}

// writeRegisterCSV writes one row per movement, framed per medication by an opening and a
// closing row, so the file reads like the paper register it replaces.
func writeRegisterCSV(c *gin.Context, v RegisterView) {
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="controlled-register.csv"`)
	c.Status(http.StatusOK)
	w := csv.NewWriter(c.Writer)
	_ = w.Write([]string{"list", "medication_code", "medication_name", "at", "entry", "quantity", "balance", "cabinet", "request_id", "actor_id", "actor_role", "witness_id"})
	itoa := func(n int32) string { return strconv.Itoa(int(n)) }
	// Numbers are written as numbers; every text cell is neutralised.
	t := csvText
	for _, m := range v.Medications {
		_ = w.Write([]string{t(m.ControlledList), t(m.Code), t(m.Name), t(v.From.Format(time.RFC3339)), "opening_balance", "", itoa(m.OpeningBalance), "", "", "", "", ""})
		for _, mv := range m.Movements {
			_ = w.Write([]string{t(m.ControlledList), t(m.Code), t(m.Name), t(mv.At.UTC().Format(time.RFC3339)), t(mv.Kind), itoa(mv.Quantity),
				itoa(mv.BalanceAfter), t(mv.Cabinet), t(mv.RequestID), t(mv.ActorID), t(mv.ActorRole), t(mv.WitnessID)})
		}
		_ = w.Write([]string{t(m.ControlledList), t(m.Code), t(m.Name), t(v.To.Format(time.RFC3339)), "closing_balance", "", itoa(m.ClosingBalance), "", "", "", "", ""})
	}
	w.Flush()
}

// csvText neutralises a text cell against formula injection, as OWASP recommends: a cell
// that starts with =, +, -, @, a tab or a CR would be read as a formula by a spreadsheet, so
// it gets a leading single quote, which the spreadsheet shows as text. Medication names,
// codes and user ids come from outside; a register is opened in a spreadsheet.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
