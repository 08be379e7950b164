package pyxis

// Roles a token may carry. RoleSystem and RoleCabinet are never users: the first marks what
// the workflows do on their own (timers, stock), the second what a cabinet reports.
const (
	RoleNurse      = "nurse"
	RolePharmacist = "pharmacist"
	RoleTechnician = "technician"
	RoleAdmin      = "admin"
	RoleCabinet    = "cabinet"
	RoleSystem     = "system"
)

// Actor is who did something: a user, a cabinet, or the system itself. It always comes from a
// verified token, a cabinet's report or the system, never from a request body.
type Actor struct {
	ID string `json:"id"`
	// Name is shown with a request's transitions; the audit trail records ID and Role.
	Name string `json:"name,omitempty"`
	Role string `json:"role"`
}

// System is the actor of what the system does by itself: timers, stock, seeding.
var System = Actor{ID: "system", Role: RoleSystem}
