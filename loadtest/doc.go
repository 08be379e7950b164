// Package loadtest is `pyxis-dev loadtest`: it puts the medication request system under the load
// of a morning medication pass and reports what the system did, in the shape locust users know.
//
// # The model
//
// Simulated people use the REST API as the real ones do, each with a token of their own (HS256,
// signed with the stack's secret), so per-user rate limits see many users, not one:
//
//   - Nurses create requests — priorities stat, urgent and routine mixed, one to five lines, a
//     share of them holding a controlled medication that needs two different pharmacists — and
//     each nurse follows her request with GET /v1/requests/{id} until it is terminal.
//   - Pharmacists work the queue (GET /v1/requests?status=awaiting_approval&limit=50): each
//     request has an owner among them (a hash of its id), and a controlled request a second,
//     different one; most are approved, some rejected with a reason. A 409 duplicate_approval
//     or invalid_state is an expected outcome of people working the same queue, not a failure.
//   - The cabinet withdraws: the system's own cabinet simulator reports the withdrawal a while
//     after the authorization (dev mode's, over HL7), or, with WithdrawVia "api", the nurse
//     reports it through POST /v1/cabinets/{id}/events.
//
// Arrivals follow an open model (Rate requests per second, paced by vegeta's constant pacer,
// whatever the system's answers) or a closed one (Users nurses, each creating her next request
// when the last is terminal). A run is bounded by a number of requests, a duration, or both,
// and always by MaxRequests and MaxDuration; when arrivals end, the nurses still waiting get a
// bounded settle time, and what is not terminal by then is reported as such.
//
// # Scenarios
//
//   - lifecycle: the above.
//   - hot-pocket: many nurses at once request one unit each of a fresh medication whose only
//     pocket holds a few; exactly as many as the pocket holds may reach awaiting_approval, the
//     rest must fail for insufficient stock, and nothing may stay unsettled.
//   - backlog: fills the queue with requests nobody approves, then measures the pharmacists'
//     queue and GET by id under a steady rate, with the process's memory when it is in process.
//
// # Measurements
//
// Every call's latency goes into an HDR histogram per endpoint (and into a one-second window
// for the latency-over-time chart); failures are classed 5xx, 429 and other. A request's
// lifecycle time is taken from its own server-side timestamps: its created_at and the time of
// the last transition of its final state. The baseline runs, on the same Temporal server, as
// many bare workflows of the same shape (start, an approval Update, a withdrawal Update after
// the same delay, complete; no activities, no database) with the same concurrency, so
// baseline_ratio (requests dispensed a second over bare workflows completed a second) says
// how close the real lifecycle comes to Temporal's own ceiling on this machine. Only a
// dispensed request counts: one rejected or failed ends sooner, and must not meet the target. The Report is written as text, JSON (schema SchemaVersion, documented on Report)
// and a self-contained HTML page whose charts are inline SVG drawn here.
package loadtest
