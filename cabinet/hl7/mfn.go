package hl7

import (
	"fmt"
	"strings"
	"time"

	"github.com/medreq/pyxis/cabinet"
)

// The item master file of this interface (MFI-1): the hospital catalogue's medications.
const (
	MasterFileID   = "PYXMED"
	MasterFileName = "Pyxis medication item master"
)

// Record-level event codes (MFE-1, HL7 table 0180) of an item master update.
const (
	RecordAdd        = "MAD"
	RecordUpdate     = "MUP"
	RecordDeactivate = "MDC"
)

// ItemUpdate is a decoded MFN^M01.
type ItemUpdate struct {
	ControlID string
	// CabinetCode is MSH-5: the cabinet whose item master changes, or the application of a
	// central server (Envelope.ServerApplication) for all the cabinets at its address.
	CabinetCode string
	// Event is RecordAdd, RecordUpdate or RecordDeactivate; Item.New is true for RecordAdd,
	// Item.Deactivated for RecordDeactivate.
	Event string
	Item  cabinet.Item
	// Route is ZPI-8, the route the dosage form implies (HL7 table 0162), empty when none.
	Route string
}

// ItemControlID returns the MSH-10 of an item master update: "MF" and 18 characters of the
// base32 SHA-256 of the receiver (MSH-5), the item's values and its ChangedAt. A resend of
// the same change repeats it; any other change gets another.
func ItemControlID(receiver string, it cabinet.Item) string {
	key := strings.Join([]string{receiver, it.Code, it.Name, it.Strength, it.Form, it.Unit,
		it.ControlledList, fmt.Sprint(it.New), it.ChangedAt.UTC().Format(time.RFC3339Nano)}, "\x00")
	if it.Deactivated || len(it.Barcodes) > 0 {
		// Only then, so that the ids of updates without them stay what they were.
		key += "\x00" + fmt.Sprint(it.Deactivated) + "\x00" + strings.Join(it.Barcodes, "\x00")
	}
	return ShortID("MF", key)
}

// BuildMFN builds the item master update MFN^M01 of one medication: MSH, MFI, MFE (MDC for
// a deactivated item, MAD for a new one, MUP otherwise) and the ZPI segment that carries
// the medication (INTERFACE.md lists every field). receiver is MSH-5: the cabinet, or for
// an address that several cabinets share, the central server's application
// (Envelope.ServerApplication). MSH-7 and MFE-3 are the item's ChangedAt (at when it is
// zero), so a resend of the same change is the same message.
func BuildMFN(receiver string, it cabinet.Item, at time.Time, env Envelope) (*Message, error) {
	switch {
	case receiver == "":
		return nil, fmt.Errorf("hl7: item master update without a receiver (MSH-5)")
	case it.Code == "" || it.Name == "":
		return nil, fmt.Errorf("hl7: item master update needs the item's code and name")
	case it.ControlledList != "" && !validList(it.ControlledList):
		return nil, fmt.Errorf("hl7: item %s: controlled list %q is not one of %s", it.Code, it.ControlledList, strings.Join(ControlledLists, " "))
	}
	if err := checkEnvelope(env); err != nil {
		return nil, err
	}
	event := RecordUpdate
	switch {
	case it.Deactivated:
		event = RecordDeactivate
	case it.New:
		event = RecordAdd
	}
	changed := it.ChangedAt
	if changed.IsZero() {
		changed = at
	}
	controlID := ItemControlID(receiver, it)
	m := header{
		sendingApp: Application, receivingApp: receiver,
		code: "MFN", trigger: "M01", structure: "MFN_M01",
		controlID: controlID, at: changed, env: env,
	}.message()
	zpi := NewSegment("ZPI").
		Set(1, it.Code, it.Name, SystemLocal).
		Set(2, it.Strength).
		Set(6, coded(it.Unit, SystemLocal)...).
		Set(7, it.ControlledList)
	if d, ok := cabinet.ParseStrength(it.Strength); ok {
		zpi.Set(3, d.Amount).Set(4, ucum[d.Unit], d.Unit, SystemUCUM)
	}
	if it.Form != "" {
		zpi.Set(5, it.Form, it.Form, SystemLocal)
	}
	if r := RouteOfForm(it.Form); r != "" {
		zpi.Set(8, r, routeNames[r], "HL70162")
	}
	if len(it.Barcodes) > 0 {
		var f Field
		for _, b := range it.Barcodes {
			f = append(f, Repetition{Component{b}, Component{""}, Component{BarcodeSystem(b)}})
		}
		zpi.SetField(9, f)
	}
	m.Add(
		// MFI-6 AL: every record is answered, as this system waits for the answer.
		NewSegment("MFI").Set(1, MasterFileID, MasterFileName, SystemLocal).Set(3, "UPD").Set(6, AckAlways),
		NewSegment("MFE").Set(1, event).Set(2, controlID).Set(3, env.time(changed)).
			Set(4, it.Code, it.Name, SystemLocal).Set(5, "CE"),
		zpi,
	)
	return m, nil
}

// ControlledLists are the lists of Portaria SVS/MS 344/98 ZPI-7 may name.
var ControlledLists = []string{"A1", "A2", "A3", "B1", "B2", "C1", "C2", "C3", "C5"}

func validList(l string) bool {
	for _, c := range ControlledLists {
		if c == l {
			return true
		}
	}
	return false
}

// DecodeMFN reads an MFN^M01 of the item master: one MFE (MAD, MUP or MDC) and its ZPI. The
// receiver (a cabinet, or a central server) is MSH-5.
func DecodeMFN(m *Message, loc *time.Location) (*ItemUpdate, error) {
	if err := expectType(m, "MFN", "M01"); err != nil {
		return nil, err
	}
	Transcode(m)
	if err := CheckText(m); err != nil {
		return nil, err
	}
	h := m.Header()
	u := &ItemUpdate{ControlID: h.ControlID, CabinetCode: h.ReceivingApp}
	if u.CabinetCode == "" {
		return nil, missing("MSH", 1, 5, "MSH-5 cabinet code is empty")
	}
	mfi := m.Segment("MFI")
	switch id := mfi.Component(1, 1, 1); {
	case mfi == nil:
		return nil, missing("MFI", 1, 0, "MFN without MFI")
	case id != MasterFileID:
		return nil, badCode("MFI", 1, 1, "MFI-1 master file %q is not %s", id, MasterFileID)
	}
	mfes, zpis := m.All("MFE"), m.All("ZPI")
	switch {
	case len(mfes) == 0:
		return nil, missing("MFE", 1, 0, "MFN without MFE")
	case len(mfes) > 1:
		return nil, badSequence("MFE", 2, "one MFE per message, has %d", len(mfes))
	case len(zpis) != 1:
		return nil, badSequence("ZPI", 1, "the MFE needs one ZPI, has %d", len(zpis))
	}
	mfe, z := mfes[0], zpis[0]
	u.Event = mfe.Value(1)
	switch u.Event {
	case RecordAdd, RecordUpdate, RecordDeactivate:
	case "":
		return nil, missing("MFE", 1, 1, "MFE-1 record-level event code is empty")
	default:
		return nil, badCode("MFE", 1, 1, "MFE-1 %q is not MAD, MUP or MDC", u.Event)
	}
	it := cabinet.Item{
		Code:           z.Component(1, 1, 1),
		Name:           z.Component(1, 1, 2),
		Strength:       z.Value(2),
		Form:           z.Component(5, 1, 2),
		Unit:           z.Component(6, 1, 1),
		ControlledList: z.Value(7),
		New:            u.Event == RecordAdd,
		Deactivated:    u.Event == RecordDeactivate,
	}
	for r := range z.Repetitions(9) {
		if b := z.Component(9, r+1, 1); b != "" {
			it.Barcodes = append(it.Barcodes, b)
		}
	}
	if it.Form == "" {
		it.Form = z.Component(5, 1, 1)
	}
	if it.Code == "" {
		return nil, missing("ZPI", 1, 1, "ZPI-1 medication code is empty")
	}
	if key := mfe.Component(4, 1, 1); key != it.Code {
		return nil, badSequence("MFE", 1, "MFE-4 %q and ZPI-1 %q name different items", key, it.Code)
	}
	if it.ControlledList != "" && !validList(it.ControlledList) {
		return nil, badCode("ZPI", 1, 7, "ZPI-7 %q is not a list of Portaria 344/98", it.ControlledList)
	}
	if at := mfe.Value(3); at != "" {
		t, err := ParseTime(at, loc)
		if err != nil {
			return nil, badValue("MFE", 1, 3, "MFE-3: %v", err)
		}
		it.ChangedAt = t
	}
	u.Item, u.Route = it, z.Component(8, 1, 1)
	return u, nil
}

// Coding systems of a barcode in ZPI-9.
const (
	// SystemGTIN marks a GS1 Global Trade Item Number (GTIN-8, -12, -13, -14: EAN and UPC
	// codes, the barcodes on Brazilian packages), recognised by its length and check digit.
	SystemGTIN = "GTIN"
	// SystemNDC marks a US National Drug Code: 10 digits in 4-4-2, 5-3-2 or 5-4-1 groups,
	// or the 11-digit 5-4-2 form, with or without hyphens.
	SystemNDC = "NDC"
)

// BarcodeSystem returns the coding system of a barcode: SystemGTIN, SystemNDC, or
// SystemLocal when it is neither (a hospital's own label).
func BarcodeSystem(code string) string {
	plain := strings.ReplaceAll(code, "-", "")
	if !digits(plain) || plain == "" {
		return SystemLocal
	}
	switch {
	case plain == code && (len(code) == 8 || len(code) == 12 || len(code) == 13 || len(code) == 14) && gs1CheckDigit(code):
		return SystemGTIN
	case plain == code && (len(code) == 10 || len(code) == 11):
		return SystemNDC
	case plain != code && ndcGroups(code):
		return SystemNDC
	}
	return SystemLocal
}

// gs1CheckDigit reports whether the last digit of a GTIN is its GS1 check digit: weights 3
// and 1 alternate from the right, the check digit rounding the sum up to a multiple of 10.
func gs1CheckDigit(code string) bool {
	sum := 0
	for i := len(code) - 2; i >= 0; i-- {
		d := int(code[i] - '0')
		if (len(code)-2-i)%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return (10-sum%10)%10 == int(code[len(code)-1]-'0')
}

// ndcGroups reports whether a hyphenated code has the groups of an NDC.
func ndcGroups(code string) bool {
	parts := strings.Split(code, "-")
	if len(parts) != 3 {
		return false
	}
	shape := fmt.Sprintf("%d-%d-%d", len(parts[0]), len(parts[1]), len(parts[2]))
	switch shape {
	case "4-4-2", "5-3-2", "5-4-1", "5-4-2":
		return true
	}
	return false
}
