package workflows

import (
	"fmt"
	"time"

	"github.com/medreq/pyxis"
)

// DefaultRestockEscalation is how long a refill task waits before it is audited as overdue, and
// again after every further such interval, when RestockInput does not say otherwise.
const DefaultRestockEscalation = 8 * time.Hour

// MaxRefillQuantity bounds the quantity of one confirmed refill.
const MaxRefillQuantity = 10000

// RestockWorkflowID is the id of the Restock workflow of a cabinet pocket. It names the
// pocket only, never a patient, and makes restocks of one pocket run one at a time.
func RestockWorkflowID(cabinetID, medicationID int64) string {
	return fmt.Sprintf("restock-%d-%d", cabinetID, medicationID)
}

// RestockName is the workflow type the worker registers Restock under: the name in every
// history, and the one a run continues as.
const RestockName = "Restock"

// RestockInput starts a Restock for one cabinet pocket.
type RestockInput struct {
	CabinetID    int64 `json:"cabinet_id"`
	MedicationID int64 `json:"medication_id"`
	// EscalateEvery is how long the refill may wait before each overdue escalation; 0 means
	// DefaultRestockEscalation.
	EscalateEvery time.Duration `json:"escalate_every,omitempty"`
	// Continued is the wait a run that continued as new hands on; nil for a new restock.
	Continued *RestockWait `json:"continued,omitempty"`
}

// RestockWait is a Restock waiting for its refill, as a run carries it into the run it
// continues as: the open task and what it asked for, when the restock began and last changed,
// the escalations so far and when the next one is due.
type RestockWait struct {
	TaskID            int64     `json:"task_id"`
	RequestedQuantity int32     `json:"requested_quantity"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	Escalations       int       `json:"escalations"`
	NextEscalation    time.Time `json:"next_escalation"`
}

// RestockStatus is where a Restock stands.
type RestockStatus string

// The statuses of a Restock. The last three are final.
const (
	RestockOpening        RestockStatus = "opening"         // the refill task is being opened
	RestockAwaitingRefill RestockStatus = "awaiting_refill" // open, waiting for a confirmation
	RestockRefilling      RestockStatus = "refilling"       // confirmed; stock being updated
	RestockDone           RestockStatus = "done"
	RestockNotNeeded      RestockStatus = "not_needed" // the pocket was back at par: no task
	RestockCancelled      RestockStatus = "cancelled"
)

// RestockState is a Restock's whole state, as StateQuery and ConfirmRefillUpdate return it.
type RestockState struct {
	ID                string        `json:"id"`
	Status            RestockStatus `json:"status"`
	CabinetID         int64         `json:"cabinet_id"`
	MedicationID      int64         `json:"medication_id"`
	TaskID            int64         `json:"task_id,omitempty"`
	RequestedQuantity int32         `json:"requested_quantity"`
	LoadedQuantity    int32         `json:"loaded_quantity,omitempty"`
	OnHandAfter       int32         `json:"on_hand_after,omitempty"`
	ConfirmedBy       *pyxis.Actor  `json:"confirmed_by,omitempty"`
	// Source says who reported the refill: RefillSourceAPI or RefillSourceCabinet.
	Source      string     `json:"source,omitempty"`
	Escalations int        `json:"escalations"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`
}

// ConfirmRefillUpdate confirms the refill of a Restock's open task: a technician through the
// API, or the cabinet's load report. The validator refuses a confirmation when the task is not
// awaiting one (ErrInvalidState: HTTP 409), from a role that may not refill (ErrForbidden), or
// with a quantity outside 1..MaxRefillQuantity (ErrInvalidInput: HTTP 422). The handler returns
// the RestockState, now refilling; the stock is updated right after.
const ConfirmRefillUpdate = "confirm-refill"

// Sources of a refill confirmation.
const (
	RefillSourceAPI     = "api"
	RefillSourceCabinet = "cabinet"
)

// ConfirmRefillInput is a refill confirmation: how much was actually loaded, and by whom.
type ConfirmRefillInput struct {
	Actor    pyxis.Actor `json:"actor"`
	Quantity int32       `json:"quantity"`
	// Source is RefillSourceAPI or RefillSourceCabinet.
	Source string `json:"source"`
	// MessageControlID is the cabinet's load report, for a cabinet confirmation.
	MessageControlID string `json:"message_control_id,omitempty"`
	// TaskID, when set, must be the Restock's open task: a confirmation meant for an older
	// task is refused.
	TaskID int64 `json:"task_id,omitempty"`
}
