package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/medreq/pyxis/activities"
)

// ItemChangedSignal tells an ItemSync the medication changed again (or, New, that the cabinet
// now stocks it); the payload is ItemChanged.
const ItemChangedSignal = "item_changed"

// ItemChanged is the payload of ItemChangedSignal.
type ItemChanged struct {
	// New says the cabinet did not hold the item before (HL7 MFE-1 MAD rather than MUP).
	New bool `json:"new,omitempty"`
}

// ItemSyncInput starts the ItemSync of one medication at one cabinet.
type ItemSyncInput struct {
	CabinetID    int64 `json:"cabinet_id"`
	MedicationID int64 `json:"medication_id"`
}

// ItemSyncWorkflowID is the id of the ItemSync of a medication at a cabinet: one at a time.
func ItemSyncWorkflowID(cabinetID, medicationID int64) string {
	return fmt.Sprintf("items-%d-%d", cabinetID, medicationID)
}

// ItemSync keeps one HL7 cabinet's item master up to date with one medication of the
// catalogue. It is started, or signalled when it runs, with ItemChangedSignal (the API does
// both at once, SignalWithStart) whenever the medication changes or the cabinet starts to
// stock it; it sends the entry as it is then, and sends again as long as changes came while
// it was sending. Delivery is acknowledged and retried like an order, but with patience: no
// nurse waits, and a cabinet may be down for hours.
func ItemSync(ctx workflow.Context, in ItemSyncInput) error {
	changes := workflow.GetSignalChannel(ctx, ItemChangedSignal)
	isNew := false
	var c ItemChanged
	for changes.ReceiveAsync(&c) {
		isNew = isNew || c.New
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 24 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        5 * time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrCabinetRefused, activities.ErrUnknownCabinet},
		},
	})
	logger := workflow.GetLogger(ctx)
	for {
		err := workflow.ExecuteActivity(actx, a.SyncItem, activities.ItemInput{
			CabinetID: in.CabinetID, MedicationID: in.MedicationID, New: isNew,
		}).Get(ctx, nil)
		if err != nil {
			// Refused (audited by the activity), or undelivered for a day: the next change
			// tries again; nothing else waits for it.
			logger.Warn("Item master not updated", "Error", err)
		}
		// Changes that came while sending: send the entry as it is now, once more.
		isNew, c = false, ItemChanged{}
		more := false
		for changes.ReceiveAsync(&c) {
			more, isNew = true, isNew || c.New
		}
		if !more {
			return nil
		}
	}
}
