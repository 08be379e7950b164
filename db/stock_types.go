package db

import (
	"time"

	"github.com/medreq/pyxis"
)

// MaxOnHand is the most a pocket may hold, and the highest par level: far above any real
// pocket, low enough that a typo (or an extra zero) is refused rather than stored. The
// migration 0007_edges checks it too.
const MaxOnHand = 100_000

// Kinds of stock movement: what changed a pocket's on_hand. Every change of on_hand is written
// to the ledger as one of these, in the transaction that makes it.
const (
	MovementLoaded    = "loaded"    // a technician loaded the pocket (a refill)
	MovementCounted   = "counted"   // a count; quantity 0, on_hand unchanged
	MovementDispensed = "dispensed" // withdrawn for a request (the request's reservation consumed)
	MovementReturned  = "returned"  // returned to the pocket
	MovementWasted    = "wasted"    // wasted, witnessed or not
	MovementUnloaded  = "unloaded"  // taken out of the cabinet other than for a patient
	MovementAdjusted  = "adjusted"  // set by hand: a stock correction or a resolved discrepancy
)

// Sources of stock movements: who reported the change.
const (
	SourceAPI      = "api"      // a person through the REST API
	SourceCabinet  = "cabinet"  // a cabinet's HL7 report
	SourceWorkflow = "workflow" // a workflow's activity (a confirmed refill)
)

// Refill task and discrepancy statuses and discrepancy kinds.
const (
	RefillOpen      = "open"
	RefillDone      = "done"
	RefillCancelled = "cancelled"

	DiscrepancyOpen     = "open"
	DiscrepancyResolved = "resolved"

	DiscrepancyCountMismatch              = "count_mismatch"
	DiscrepancyUnwitnessedControlledWaste = "unwitnessed_controlled_waste"
	// A vend took less of an ordered line than ordered (the rest was released), more than
	// ordered, or a medication the request did not order.
	DiscrepancyShortVend       = "short_vend"
	DiscrepancyOverVend        = "over_vend"
	DiscrepancyWrongMedication = "wrong_medication"
)

// Movement is one row of the stock ledger.
type Movement struct {
	ID           int64
	At           time.Time
	CabinetID    int64
	MedicationID int64
	Kind         string
	// Quantity is the signed change of on_hand; 0 for a count.
	Quantity         int32
	OnHandAfter      int32
	RequestID        string
	Actor            pyxis.Actor
	WitnessID        string
	Source           string
	CabinetMessageID string
	RefillTaskID     int64
	Details          map[string]any
}

// PocketChange is a movement of stock in or out of a pocket, reported by a cabinet or a person:
// a load, return, waste or unload. Quantity is the positive amount moved; the kind gives the
// sign. A non-empty CabinetMessageID makes the change idempotent per cabinet.
type PocketChange struct {
	CabinetID    int64
	MedicationID int64
	// Kind is one of MovementLoaded, MovementReturned, MovementWasted, MovementUnloaded.
	Kind     string
	Quantity int32
	Actor    pyxis.Actor
	// Witness is who witnessed a waste; a controlled medication wasted without one is recorded
	// as a discrepancy.
	Witness string
	// ControlledClass is the class the cabinet reports (ZPM-7); non-empty marks the medication
	// as controlled even when the catalogue does not.
	ControlledClass  string
	RequestID        string
	Source           string
	CabinetMessageID string
	// At is when it happened; zero means now.
	At      time.Time
	Details map[string]any
}

// PocketChangeResult is what a PocketChange did.
type PocketChangeResult struct {
	// Duplicate is set when the cabinet message was applied before: nothing changed.
	Duplicate   bool
	Movement    Movement
	Discrepancy *Discrepancy
}

// Count is a count of a pocket, from the API or a cabinet.
type Count struct {
	CabinetID        int64
	MedicationID     int64
	Counted          int32
	Actor            pyxis.Actor
	Source           string
	CabinetMessageID string
	At               time.Time
	Details          map[string]any
}

// CountResult is what a Count found.
type CountResult struct {
	// Duplicate is set when the cabinet message was applied before: nothing changed.
	Duplicate bool
	// OnHand is what the ledger held when the count was taken.
	OnHand int32
	// Discrepancy is the count_mismatch recorded when the count differs from OnHand.
	Discrepancy *Discrepancy
}

// RefillTask asks technicians to bring a pocket back to its par level.
type RefillTask struct {
	ID             int64
	CabinetID      int64
	CabinetCode    string
	MedicationID   int64
	MedicationCode string
	MedicationName string
	Status         string
	RequestedQty   int32
	// LoadedQty is set once the task is done.
	LoadedQty   *int32
	WorkflowID  string
	CreatedAt   time.Time
	CompletedAt *time.Time
	CompletedBy string
}

// Discrepancy is something a pharmacist must look at and resolve with a reason.
type Discrepancy struct {
	ID             int64
	CabinetID      int64
	CabinetCode    string
	MedicationID   int64
	MedicationCode string
	MedicationName string
	Kind           string
	// Expected and Actual are on_hand and the count of a count_mismatch; nil otherwise.
	Expected   *int32
	Actual     *int32
	Details    map[string]any
	Status     string
	CreatedAt  time.Time
	ResolvedAt *time.Time
	ResolvedBy string
	Resolution string
}

// Resolution closes a discrepancy. SetOnHand, when set, is the level the pharmacist found in the
// pocket: on_hand is set to it, with an adjusted movement of the difference.
type Resolution struct {
	Reason    string
	SetOnHand *int32
	Actor     pyxis.Actor
}

// StockFilter selects refill tasks or discrepancies. Zero values mean no filter; Limit 0 means
// 100, capped at 500.
type StockFilter struct {
	Status    string
	CabinetID int64
	Limit     int
}
