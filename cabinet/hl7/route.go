package hl7

import (
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/medreq/pyxis/cabinet"
)

// RouteOther is the route (HL7 table 0162) sent when neither the line nor its dosage form
// says one: Other/Miscellaneous.
const RouteOther = "OTH"

// routeNames is HL7 table 0162 (route of administration) as v2.5 defines it: every code and
// its text, written in RXR-1 and ZPI-8.
var routeNames = map[string]string{
	"AP": "Apply Externally", "B": "Buccal", "DT": "Dental", "EP": "Epidural",
	"ET": "Endotrachial Tube", "GTT": "Gastrostomy Tube", "GU": "GU Irrigant",
	"IA": "Intra-arterial", "IB": "Intrabursal", "IC": "Intracardiac",
	"ICV": "Intracervical (uterus)", "ID": "Intradermal", "IH": "Inhalation",
	"IHA": "Intrahepatic Artery", "IM": "Intramuscular", "IMR": "Immerse (Soak) Body Part",
	"IN": "Intranasal", "IO": "Intraocular", "IP": "Intraperitoneal", "IS": "Intrasynovial",
	"IT": "Intrathecal", "IU": "Intrauterine", "IV": "Intravenous", "MM": "Mucous Membrane",
	"MTH": "Mouth/Throat", "NG": "Nasogastric", "NP": "Nasal Prongs", "NS": "Nasal",
	"NT": "Nasotrachial Tube", "OP": "Ophthalmic", "OT": "Otic", RouteOther: "Other/Miscellaneous",
	"PF": "Perfusion", "PO": "Oral", "PR": "Rectal", "RM": "Rebreather Mask", "SC": "Subcutaneous",
	"SD": "Soaked Dressing", "SL": "Sublingual", "TD": "Transdermal", "TL": "Translingual",
	"TP": "Topical", "TRA": "Tracheostomy", "UR": "Urethral", "VG": "Vaginal", "VM": "Ventimask",
	"WND": "Wound",
}

// ErrUnknownRoute reports a route that is not a code of HL7 table 0162.
var ErrUnknownRoute = errors.New("not a route of HL7 table 0162")

// CheckRoute checks that route is a code of HL7 table 0162 (PO, IV, SC …; case does not
// matter): what RXR-1 sends must be one, so a medication's route is checked when it is
// saved. The error wraps ErrUnknownRoute and says the code.
func CheckRoute(route string) error {
	if _, ok := RouteName(route); !ok {
		return fmt.Errorf("route %q: %w", route, ErrUnknownRoute)
	}
	return nil
}

// RouteName returns the text HL7 table 0162 gives a route code, and whether it has one.
func RouteName(route string) (string, bool) {
	name, ok := routeNames[strings.ToUpper(strings.TrimSpace(route))]
	return name, ok
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
		return strings.ToUpper(strings.TrimSpace(l.Route))
	}
	if r := RouteOfForm(l.Form); r != "" {
		return r
	}
	return RouteOther
}
