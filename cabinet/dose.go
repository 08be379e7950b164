package cabinet

import (
	"math/big"
	"regexp"
	"strings"
)

// Dose is an amount of a medication with its unit, such as the 500 mg one tablet holds.
type Dose struct {
	// Amount is a decimal number written with a point and no exponent ("500", "0.125").
	Amount string
	// Unit is one of the units ParseStrength knows, as it writes them (mg, g, mcg, ng, mEq,
	// mmol, IU, U, mL, L).
	Unit string
}

// strengthPattern is one number, a decimal point or comma at most, and a unit word.
var strengthPattern = regexp.MustCompile(`^([0-9]+)(?:[.,]([0-9]+))?\s*([A-Za-zµμ.]+)$`)

// doseUnits maps the unit words a catalogue writes (lower-cased) to the unit Dose uses.
var doseUnits = map[string]string{
	"mg": "mg", "g": "g", "mcg": "mcg", "µg": "mcg", "μg": "mcg", "ug": "mcg", "ng": "ng",
	"meq": "mEq", "mmol": "mmol",
	"iu": "IU", "ui": "IU", "u.i.": "IU", "i.u.": "IU",
	"u": "U", "un": "U", "unit": "U", "units": "U", "unidade": "U", "unidades": "U",
	"ml": "mL", "l": "L",
}

// ParseStrength reads the dose one unit of a medication holds from its catalogue strength:
// "500 mg", "500mg", "0,5 mg", "1 g", "100 UI". It reports false when the strength states no
// such dose: empty, a concentration ("10 mg/mL", "10 mg/mL, 1 mL", "0.9 %"), a combination
// ("500 mg + 125 mg"), an unknown unit, or a number that could be read two ways ("1.000 mg":
// one, or a thousand written the Brazilian way). What it cannot read surely it does not read.
func ParseStrength(s string) (Dose, bool) {
	s = strings.TrimSpace(s)
	if s == "" || strings.ContainsAny(s, "/%+") {
		return Dose{}, false
	}
	m := strengthPattern.FindStringSubmatch(s)
	if m == nil {
		return Dose{}, false
	}
	whole, frac, word := m[1], m[2], strings.ToLower(m[3])
	unit, ok := doseUnits[word]
	if !ok {
		return Dose{}, false
	}
	if len(frac) == 3 && strings.TrimLeft(whole, "0") != "" {
		return Dose{}, false // "1.000" or "2,500": a thousands separator, or a decimal?
	}
	amount := ShortestDecimal(whole, frac)
	if amount == "0" {
		return Dose{}, false
	}
	return Dose{Amount: amount, Unit: unit}, true
}

// ShortestDecimal writes the number whole.frac (digits each, either may be empty) in its
// shortest exact form: no leading zeros but one before the point, no trailing zeros after
// it, no point for a whole number: "007" and "50" give "7.5", "2" and "000" give "2".
func ShortestDecimal(whole, frac string) string {
	whole = strings.TrimLeft(whole, "0")
	if whole == "" {
		whole = "0"
	}
	frac = strings.TrimRight(frac, "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

// Times returns the dose of n units: ("500", "mg") times 2 is "1000" mg. It reports false
// when Amount is not a decimal number.
func (d Dose) Times(n int32) (Dose, bool) {
	r, ok := new(big.Rat).SetString(d.Amount)
	if !ok || strings.ContainsAny(d.Amount, "eE/") {
		return Dose{}, false
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(n)))
	decimals := 0
	if _, frac, found := strings.Cut(d.Amount, "."); found {
		decimals = len(frac)
	}
	out := r.FloatString(decimals)
	if strings.Contains(out, ".") {
		out = strings.TrimRight(strings.TrimRight(out, "0"), ".")
	}
	return Dose{Amount: out, Unit: d.Unit}, true
}
