// Package pyxis is the domain's vocabulary, defined once for every layer of the system: who
// acts (Actor, the roles), for whom (Patient), what is asked for (Line, Priority,
// RequestHeader), what a request's workflow records (Transition, Vend, Step, Admission), the
// catalogue entries and refill tasks the workflows read and write (Medication, Cabinet,
// OpenedRefill, RefillCompletion), the audit trail (AuditEntry), and the errors the data layer
// answers with (ErrNotFound, ErrInvalid, ...).
//
// It imports nothing of this module, so the workflows, the activities, the database layer,
// the application services, the API and the tools all speak it, and none needs another's
// package for a type. Its types carry the JSON names that Temporal's histories hold since
// v0.1.0: those names never change. Conversion happens only at the wire: the API's DTOs
// (package api) and the HL7 messages (package cabinet/hl7).
package pyxis
