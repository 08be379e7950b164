package pyxis

import (
	"net/netip"
	"time"
)

// Medication is an entry of the medication catalogue.
type Medication struct {
	ID       int64
	Code     string
	Name     string
	Strength string
	Form     string
	Unit     string
	// ControlledList is the medication's list of Portaria SVS/MS 344/98 (A1 ... C5, as
	// db.ControlledLists has them), or "" for a medication that is not controlled.
	ControlledList string
	// Route is the route of administration, a code of HL7 table 0162 (PO, IV, SC), or ""
	// to derive it from the form (RXR-1 of its orders).
	Route string
	// Barcodes are the package barcodes (GTIN, NDC) cabinets scan at refill.
	Barcodes []string
	// Active is false for a medication no longer used: cabinets are told to deactivate it.
	Active    bool
	CreatedAt time.Time
	// UpdatedAt is when the entry last changed: cabinets' item masters are told it.
	UpdatedAt time.Time
}

// Controlled reports whether the medication is on any controlled list.
func (m Medication) Controlled() bool { return m.ControlledList != "" }

// Cabinet is an automated dispensing cabinet on a hospital unit.
type Cabinet struct {
	ID     int64
	Code   string
	Name   string
	Unit   string
	Status string
	// Driver is "sim" (the in-process simulator) or "hl7" (HL7 v2 over MLLP to Address), as
	// cabinet/drivers names them.
	Driver  string
	Address string
	// ReportSources are the networks the cabinet's reports are believed from; empty: nobody.
	ReportSources []netip.Prefix
	CreatedAt     time.Time
}

// SimulatedCabinetsRefused says why a cabinet with the sim driver is refused where simulated
// cabinets are not allowed: the API's answer to registering one, and the first detail of the
// failure of a command to one.
const SimulatedCabinetsRefused = "simulated cabinets are not allowed on this system"
