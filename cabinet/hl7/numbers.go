package hl7

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/medreq/pyxis/cabinet"
)

// parseCount reads a whole number, written as an HL7 number with no fraction ("2", "2.0",
// "+02"), within int32.
func parseCount(s string) (int32, error) {
	d, ok := Decimal(s)
	if !ok || strings.Contains(d, ".") {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	n, err := strconv.ParseInt(d, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return int32(n), nil
}

// Decimal returns an HL7 number (NM: an optional sign, digits, an optional decimal point
// and digits) in its shortest exact form: "0.5" for "00.50", "2" for "+2.0". It reports
// false for anything else (an exponent, a comma, no digit at all).
func Decimal(s string) (string, bool) {
	neg := strings.HasPrefix(s, "-")
	if neg || strings.HasPrefix(s, "+") {
		s = s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || !digits(whole) || !digits(frac) {
		return "", false
	}
	out := cabinet.ShortestDecimal(whole, frac)
	if neg && out != "0" {
		out = "-" + out
	}
	return out, true
}

// digits reports whether s holds only ASCII digits (true for "").
func digits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// amount is a number read from a report.
type amount struct {
	// count is the number when it is whole; absent when the field is empty or the number has
	// a fraction.
	count cabinet.Count
	// present says the field held a number, whole or not.
	present bool
	// positive says it is above zero.
	positive bool
	// flags holds a CauseFractional flag when the number has a fraction.
	flags []cabinet.Flag
}

// readAmount reads field of segment occurrence occ as a number: empty is absent, a whole
// number a count, a number with a fraction a flag that keeps it exactly (about line, 0 for
// the report as a whole), anything else a data type error (102).
func readAmount(s *Segment, occ, field, line int) (amount, error) {
	v := s.Value(field)
	if v == "" {
		return amount{}, nil
	}
	if n, err := parseCount(v); err == nil {
		return amount{count: cabinet.CountOf(n), present: true, positive: n > 0}, nil
	}
	d, ok := Decimal(v)
	if !ok || !strings.Contains(d, ".") {
		// Not a number, or a whole number beyond int32.
		return amount{}, badValue(s.Name, occ, field, "%s-%d: %q is not a number this interface reads", s.Name, field, v)
	}
	where := fmt.Sprintf("%s-%d", s.Name, field)
	return amount{present: true, positive: !strings.HasPrefix(d, "-"), flags: []cabinet.Flag{{
		Cause: cabinet.CauseFractional, Field: where, Line: line, Value: d,
		Text: fmt.Sprintf("%s is %s, not a whole number of units", where, d),
	}}}, nil
}
