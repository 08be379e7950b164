package pyxis

import "time"

// A pocket left below its par level gets a refill task, which a Restock workflow opens and
// keeps until a technician (or the cabinet) confirms the load. These are the task's steps as
// the workflow's activities send them to the database layer; their JSON names are those of
// the histories.

// OpenedRefill is the open refill task of a pocket, or NotNeeded when the pocket is at or
// above its par level: no task was opened.
type OpenedRefill struct {
	NotNeeded bool  `json:"not_needed"`
	TaskID    int64 `json:"task_id"`
	// RequestedQty is par_level - on_hand when the task was opened (of the existing task, if
	// one was open already).
	RequestedQty int32 `json:"requested_qty"`
	OnHand       int32 `json:"on_hand"`
	ParLevel     int32 `json:"par_level"`
}

// RefillCompletion confirms a refill: Quantity units were loaded into the task's pocket.
type RefillCompletion struct {
	TaskID   int64 `json:"task_id"`
	Quantity int32 `json:"quantity"`
	Actor    Actor `json:"actor"`
	// Source is "api" or "cabinet": who reported the load.
	Source string `json:"source"`
	// CabinetMessageID is the cabinet's load report, when the cabinet reported it.
	CabinetMessageID string    `json:"message_control_id,omitempty"`
	At               time.Time `json:"at"`
}

// CompletedRefill is what a RefillCompletion did.
type CompletedRefill struct {
	// Applied is false when the task was no longer open (a retry after success): nothing
	// changed.
	Applied     bool  `json:"applied"`
	OnHandAfter int32 `json:"on_hand_after"`
}
