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
	RecordAdd    = "MAD"
	RecordUpdate = "MUP"
)

// ItemUpdate is a decoded MFN^M01.
type ItemUpdate struct {
	ControlID string
	// CabinetCode is MSH-5, the cabinet whose item master changes.
	CabinetCode string
	// Event is RecordAdd or RecordUpdate; Item.New is true for RecordAdd.
	Event string
	Item  cabinet.Item
	// Route is ZPI-8, the route the dosage form implies (HL7 table 0162), empty when none.
	Route string
}

// ItemControlID returns the MSH-10 of an item master update: "MF" and 18 characters of the
// base32 SHA-256 of the cabinet, the item's values and its ChangedAt. A resend of the same
// change repeats it; any other change gets another.
func ItemControlID(cabinetCode string, it cabinet.Item) string {
	key := strings.Join([]string{cabinetCode, it.Code, it.Name, it.Strength, it.Form, it.Unit,
		it.ControlledList, fmt.Sprint(it.New), it.ChangedAt.UTC().Format(time.RFC3339Nano)}, "\x00")
	return ShortID("MF", key)
}

// BuildMFN builds the item master update MFN^M01 of one medication for one cabinet: MSH,
// MFI, MFE (MAD for a new item, MUP otherwise) and the ZPI segment that carries the
// medication (INTERFACE.md lists every field).
func BuildMFN(cabinetCode string, it cabinet.Item, at time.Time, env Envelope) (*Message, error) {
	switch {
	case cabinetCode == "":
		return nil, fmt.Errorf("hl7: item master update without a cabinet code")
	case it.Code == "" || it.Name == "":
		return nil, fmt.Errorf("hl7: item master update needs the item's code and name")
	case it.ControlledList != "" && !validList(it.ControlledList):
		return nil, fmt.Errorf("hl7: item %s: controlled list %q is not one of %s", it.Code, it.ControlledList, strings.Join(ControlledLists, " "))
	}
	if err := checkEnvelope(env); err != nil {
		return nil, err
	}
	event := RecordUpdate
	if it.New {
		event = RecordAdd
	}
	changed := it.ChangedAt
	if changed.IsZero() {
		changed = at
	}
	controlID := ItemControlID(cabinetCode, it)
	m := header{
		sendingApp: Application, receivingApp: cabinetCode,
		code: "MFN", trigger: "M01", structure: "MFN_M01",
		controlID: controlID, at: at, env: env,
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
	m.Add(
		NewSegment("MFI").Set(1, MasterFileID, MasterFileName, SystemLocal).Set(3, "UPD").Set(6, "NE"),
		NewSegment("MFE").Set(1, event).Set(2, controlID).Set(3, FormatTime(changed)).
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

// DecodeMFN reads an MFN^M01 of the item master: one MFE (MAD or MUP) and its ZPI. The
// cabinet is MSH-5.
func DecodeMFN(m *Message, loc *time.Location) (*ItemUpdate, error) {
	if err := expectType(m, "MFN", "M01"); err != nil {
		return nil, err
	}
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
	case RecordAdd, RecordUpdate:
	case "":
		return nil, missing("MFE", 1, 1, "MFE-1 record-level event code is empty")
	default:
		return nil, badCode("MFE", 1, 1, "MFE-1 %q is not MAD or MUP", u.Event)
	}
	it := cabinet.Item{
		Code:           z.Component(1, 1, 1),
		Name:           z.Component(1, 1, 2),
		Strength:       z.Value(2),
		Form:           z.Component(5, 1, 2),
		Unit:           z.Component(6, 1, 1),
		ControlledList: z.Value(7),
		New:            u.Event == RecordAdd,
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
