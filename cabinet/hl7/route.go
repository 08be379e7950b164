package hl7

import (
	"strings"
	"unicode"

	"github.com/medreq/pyxis/cabinet"
)

// RouteOther is the route (HL7 table 0162) sent when neither the line nor its dosage form
// says one: Other/Miscellaneous.
const RouteOther = "OTH"

// routeNames are the texts of the HL7 table 0162 codes this interface writes.
var routeNames = map[string]string{
	"PO": "Oral", "SL": "Sublingual", "PR": "Rectal", "TD": "Transdermal", "TP": "Topical",
	"OP": "Ophthalmic", "OT": "Otic", "IH": "Inhalation", "NS": "Nasal", "IV": "Intravenous",
	"IM": "Intramuscular", "SC": "Subcutaneous", "ID": "Intradermal", "IT": "Intrathecal",
	"VG": "Vaginal", RouteOther: "Other/Miscellaneous",
}

// formRoutes maps word beginnings of a dosage form (English or Portuguese, lower case) to the
// route the form implies; the first match wins, so the more specific words come first.
// Injectable forms (ampoule, vial, syringe, bag) imply no one route and are not listed.
var formRoutes = []struct{ word, route string }{
	{"sublingua", "SL"},
	{"supposit", "PR"}, {"supositório", "PR"}, {"supositorio", "PR"},
	{"patch", "TD"}, {"transdermal", "TD"}, {"adesivo", "TD"},
	{"eye", "OP"}, {"ophthalmic", "OP"}, {"colírio", "OP"}, {"colirio", "OP"},
	{"otic", "OT"}, {"otológic", "OT"}, {"otologic", "OT"},
	{"inhal", "IH"}, {"aerosol", "IH"}, {"nebul", "IH"}, {"inalat", "IH"},
	{"nasal", "NS"},
	{"tablet", "PO"}, {"capsule", "PO"}, {"comprimido", "PO"}, {"cápsula", "PO"}, {"capsula", "PO"},
	{"drágea", "PO"}, {"dragea", "PO"}, {"syrup", "PO"}, {"xarope", "PO"}, {"oral", "PO"},
	{"sachet", "PO"}, {"sachê", "PO"},
	{"cream", "TP"}, {"ointment", "TP"}, {"creme", "TP"}, {"pomada", "TP"}, {"gel", "TP"},
}

// RouteOfForm returns the HL7 table 0162 route a dosage form implies, or "" when it implies
// none (an injectable, an unknown form).
func RouteOfForm(form string) string {
	words := strings.FieldsFunc(strings.ToLower(form), func(r rune) bool { return !unicode.IsLetter(r) })
	for _, fr := range formRoutes {
		for _, w := range words {
			if strings.HasPrefix(w, fr.word) {
				return fr.route
			}
		}
	}
	return ""
}

// routeOf returns RXR-1 of a line: its Route, else what its form implies, else RouteOther.
func routeOf(l cabinet.Line) string {
	if l.Route != "" {
		return strings.ToUpper(l.Route)
	}
	if r := RouteOfForm(l.Form); r != "" {
		return r
	}
	return RouteOther
}
