package cabsim

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/hl7"
)

// StockFile is the JSON a simulated cabinet's stock is read from:
//
//	{"cabinet": "PYX-ICU-01",
//	 "pockets": [{"medication_code": "MORF10", "medication_name": "Morphine 10 mg",
//	              "drawer": "1", "pocket": "A", "quantity": 10, "par_level": 10,
//	              "controlled_class": "A1"}]}
//
// cabinet is the station code the simulator answers for: an order naming another cabinet
// (RXE-40, else MSH-5) is refused. Each medication sits in one pocket, and each drawer and
// pocket pair holds one medication. An order is refused when a line asks for more than its
// pocket holds less what earlier accepted, not yet withdrawn orders set aside; a withdrawal
// takes the quantity out of the pocket.
type StockFile struct {
	Cabinet string        `json:"cabinet"`
	Pockets []StockPocket `json:"pockets"`
}

// StockPocket is one pocket of a stock file.
type StockPocket struct {
	MedicationCode  string `json:"medication_code"`
	MedicationName  string `json:"medication_name,omitempty"`
	Drawer          string `json:"drawer"`
	Pocket          string `json:"pocket"`
	Quantity        int32  `json:"quantity"`
	ParLevel        int32  `json:"par_level"`
	ControlledClass string `json:"controlled_class,omitempty"`
}

// LoadStock reads and checks a stock file.
func LoadStock(path string) (*StockFile, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cabsim: read stock: %w", err)
	}
	var sf StockFile
	if err := json.Unmarshal(raw, &sf); err != nil {
		return nil, fmt.Errorf("cabsim: stock %s: %w", path, err)
	}
	if err := sf.validate(); err != nil {
		return nil, fmt.Errorf("cabsim: stock %s: %w", path, err)
	}
	return &sf, nil
}

func (sf *StockFile) validate() error {
	if sf.Cabinet == "" {
		return fmt.Errorf("no cabinet code")
	}
	codes, places := map[string]bool{}, map[[2]string]bool{}
	for i, p := range sf.Pockets {
		place := [2]string{p.Drawer, p.Pocket}
		switch {
		case p.MedicationCode == "" || p.Drawer == "" || p.Pocket == "":
			return fmt.Errorf("pocket %d needs medication_code, drawer and pocket", i+1)
		case p.Quantity < 0 || p.ParLevel < 0:
			return fmt.Errorf("pocket %d: negative quantity or par level", i+1)
		case codes[p.MedicationCode]:
			return fmt.Errorf("medication %s is in two pockets", p.MedicationCode)
		case places[place]:
			return fmt.Errorf("drawer %s pocket %s is listed twice", p.Drawer, p.Pocket)
		}
		codes[p.MedicationCode], places[place] = true, true
	}
	return nil
}

// stock is the live state of a stock file's pockets; the Sim's mutex guards it.
type stock struct {
	cabinet string
	pockets []*pocketState
}

type pocketState struct {
	StockPocket
	// pending is what accepted orders set aside and have not withdrawn yet.
	pending int32
}

func newStock(sf *StockFile) *stock {
	s := &stock{cabinet: sf.Cabinet}
	for _, p := range sf.Pockets {
		s.pockets = append(s.pockets, &pocketState{StockPocket: p})
	}
	return s
}

// byCode returns the pocket of a medication, or nil.
func (s *stock) byCode(code string) *pocketState {
	for _, p := range s.pockets {
		if p.MedicationCode == code {
			return p
		}
	}
	return nil
}

// byPlace returns the pocket at a drawer and pocket, or nil.
func (s *stock) byPlace(drawer, pocket string) *pocketState {
	for _, p := range s.pockets {
		if p.Drawer == drawer && p.Pocket == pocket {
			return p
		}
	}
	return nil
}

// reserve checks an order against the pockets and, when every line fits, sets its quantities
// aside. It returns the HL7 condition and the reason of a refusal: another cabinet's order
// (204), a medication not stocked (103), not enough of it (207).
func (s *stock) reserve(o cabinet.Order) (string, string) {
	if o.CabinetCode != s.cabinet {
		return hl7.ConditionUnknownKey, fmt.Sprintf("this is cabinet %s, not %s", s.cabinet, o.CabinetCode)
	}
	need := map[*pocketState]int32{}
	for _, l := range o.Lines {
		p := s.byCode(l.MedicationCode)
		if p == nil {
			return hl7.ConditionTableValue, fmt.Sprintf("medication %s is not stocked in cabinet %s", l.MedicationCode, s.cabinet)
		}
		need[p] += l.Quantity
		if avail := p.Quantity - p.pending; need[p] > avail {
			return hl7.ConditionInternal, fmt.Sprintf("insufficient stock of %s in drawer %s pocket %s: %d available, %d ordered",
				l.MedicationCode, p.Drawer, p.Pocket, max(avail, 0), need[p])
		}
	}
	for p, n := range need {
		p.pending += n
	}
	return "", ""
}

// release gives back what an order set aside.
func (s *stock) release(o cabinet.Order) {
	for _, l := range o.Lines {
		if p := s.byCode(l.MedicationCode); p != nil {
			p.pending = max(p.pending-l.Quantity, 0)
		}
	}
}

// hold sets aside what a held order needs, without checking: the order was accepted before
// a restart.
func (s *stock) hold(o cabinet.Order) {
	for _, l := range o.Lines {
		if p := s.byCode(l.MedicationCode); p != nil {
			p.pending += l.Quantity
		}
	}
}

// save returns a func that puts the pockets back as they are now; nil stock saves nothing.
func (s *stock) save() (restore func()) {
	if s == nil {
		return func() {}
	}
	saved := make([]pocketState, len(s.pockets))
	for i, p := range s.pockets {
		saved[i] = *p
	}
	return func() {
		for i, p := range s.pockets {
			*p = saved[i]
		}
	}
}
