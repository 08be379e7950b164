package cabsim

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/medreq/pyxis/cabinet"
)

// stateFormat names the layout of the state file; a file of another format is refused.
const stateFormat = "pyxis-cabsim-state/1"

// Pacing of the state file.
const (
	// flushEvery is the least time between two writes of the state file: the changes made
	// meanwhile go to disk together (one write, one fsync), and every answer waiting for
	// them goes out after that write. It is short because a sender with one connection (the
	// HL7 driver's default: its messages keep their order) has one message in flight, which
	// waits for the next write: the pause caps that sender at one message per pause. At
	// 50 ms it held a whole hospital's orders to 19 a second; at 5 ms a write of a few
	// hundred orders (about 1 ms, fsync included) still takes at most a sixth of the time,
	// and a longer write spaces the next one out by itself (flushLoop).
	flushEvery = 5 * time.Millisecond
	// flushRetry is the wait before writing again after a failed write.
	flushRetry = time.Second
	// durableWait bounds how long an acknowledgment waits for its change to reach the disk;
	// past it the message is answered AR (resend later).
	durableWait = 5 * time.Second
	// retention is how long orders withdrawn or cancelled, and acknowledged control ids, are
	// remembered (with a state file), and maxDone how many orders done at most (maxAccepted
	// control ids): the file is written whole, so its size is the cost of every write
	// (about 170 bytes per order done; 10,000 of them write in some 30 ms).
	retention   = 24 * time.Hour
	maxDone     = 10_000
	maxAccepted = 2 * maxDone
	// pruneEvery paces the forgetting of what is older than retention.
	pruneEvery = time.Minute
)

// errClosed is returned by what cannot be done once the simulator is closed.
var errClosed = errors.New("cabsim: closed")

// savedState is the state file: what a real cabinet keeps across a power cut.
type savedState struct {
	Format  string    `json:"format"`
	SavedAt time.Time `json:"saved_at"`
	// Cabinet is the stock file's cabinet code, when the simulator had a stock file.
	Cabinet string `json:"cabinet,omitempty"`
	// Pockets are the stock's pockets with their quantities now.
	Pockets []StockPocket `json:"pockets,omitempty"`
	// Seq numbers pocket events, Overrides the overrides, NextReport the outbox: each keeps
	// counting after a restart, so no control id is given to two different reports.
	Seq        int64             `json:"seq"`
	Overrides  int               `json:"overrides"`
	NextReport int64             `json:"next_report"`
	Orders     []savedOrder      `json:"orders"`
	Accepted   map[string]micros `json:"accepted"`
	Items      []cabinet.Item    `json:"items"`
	Stats      Stats             `json:"stats"`
	Outbox     []savedReport     `json:"outbox"`
}

// savedOrder is an order as the state file keeps it. An order cancelled or withdrawn keeps
// only what recognises a resend of it (its request id and cabinet): most of a busy cabinet's
// orders are done, and the file is written whole.
type savedOrder struct {
	RequestID string `json:"id"`
	Cabinet   string `json:"cabinet"`
	// Order is the order as it was accepted, while it is held (not done).
	Order      *cabinet.Order `json:"order,omitempty"`
	AcceptedAt micros         `json:"accepted_us"`
	// DueAt is when the simulated nurse withdraws it; zero: only through POST /withdraw.
	DueAt     micros `json:"due_us,omitempty"`
	Cancelled bool   `json:"cancelled,omitempty"`
	Withdrawn bool   `json:"withdrawn,omitempty"`
	// DoneAt is when it was cancelled or withdrawn.
	DoneAt micros `json:"done_us,omitempty"`
	// Applied counts the authorizations applied for the request (0 in files from before).
	Applied int `json:"applied,omitempty"`
}

// micros is a time as the state file writes the many it holds: microseconds since
// 1970-01-01 UTC, 0 for none (cheaper to write than RFC 3339, and the file is written often).
type micros int64

func microsOf(t time.Time) micros {
	if t.IsZero() {
		return 0
	}
	return micros(t.UnixMicro())
}

func (m micros) time() time.Time {
	if m == 0 {
		return time.Time{}
	}
	return time.UnixMicro(int64(m))
}

// savedReport is a report of the outbox as the state file keeps it.
type savedReport struct {
	Seq       int64  `json:"seq"`
	ControlID string `json:"control_id"`
	Cabinet   string `json:"cabinet"`
	Kind      string `json:"kind"`
	// Message is the HL7 message, encoded once: every attempt sends these same bytes.
	Message   string    `json:"message"`
	QueuedAt  time.Time `json:"queued_at"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
}

// readState reads a state file; a file that does not exist is no state (nil, nil). A file
// that exists but does not read whole is an error: starting empty would lose what the
// cabinet held.
func readState(path string) (*savedState, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cabsim: read state file: %w", err)
	}
	bad := func(err error) error {
		return fmt.Errorf("cabsim: state file %s is not a whole simulator state (truncated or damaged; "+
			"the simulator never leaves one so): %w; move it away to start with an empty cabinet", path, err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, bad(errors.New("the file is empty"))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var st savedState
	if err := dec.Decode(&st); err != nil {
		return nil, bad(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, bad(errors.New("data after the state"))
	}
	if st.Format != stateFormat {
		return nil, bad(fmt.Errorf("format %q, want %q", st.Format, stateFormat))
	}
	if err := st.validate(); err != nil {
		return nil, bad(err)
	}
	return &st, nil
}

func (st *savedState) validate() error {
	ids := map[string]bool{}
	for i, o := range st.Orders {
		switch {
		case o.RequestID == "" || ids[o.RequestID]:
			return fmt.Errorf("order %d: no request id, or one held twice", i+1)
		case o.Order == nil && !o.Cancelled && !o.Withdrawn:
			return fmt.Errorf("order %s: held, but without the order", o.RequestID)
		case o.Order != nil && o.Order.RequestID != o.RequestID:
			return fmt.Errorf("order %s: the order is of %s", o.RequestID, o.Order.RequestID)
		}
		ids[o.RequestID] = true
	}
	seqs := map[int64]bool{}
	for i, r := range st.Outbox {
		if r.ControlID == "" || r.Cabinet == "" || r.Message == "" || seqs[r.Seq] || r.Seq >= st.NextReport {
			return fmt.Errorf("outbox report %d: no control id, cabinet or message, or a sequence number out of place", i+1)
		}
		seqs[r.Seq] = true
	}
	return nil
}

// restore takes over a state read from the state file. The stock file gives the pockets;
// the state gives their quantities now.
func (s *Sim) restore(st *savedState) error {
	if s.stock != nil && len(st.Pockets) > 0 {
		if st.Cabinet != s.stock.cabinet {
			return fmt.Errorf("cabsim: state file %s is of cabinet %s, the stock file of %s", s.cfg.StateFile, st.Cabinet, s.stock.cabinet)
		}
		for _, p := range s.stock.pockets {
			for _, q := range st.Pockets {
				if q.MedicationCode == p.MedicationCode && q.Drawer == p.Drawer && q.Pocket == p.Pocket {
					p.Quantity = q.Quantity
				}
			}
		}
	}
	for _, so := range st.Orders {
		o := &simOrder{order: cabinet.Order{RequestID: so.RequestID, CabinetCode: so.Cabinet}, acceptedAt: so.AcceptedAt.time(),
			dueAt: so.DueAt.time(), cancelled: so.Cancelled, withdrawn: so.Withdrawn, doneAt: so.DoneAt.time(), applied: max(so.Applied, 1)}
		if so.Order != nil {
			o.order = *so.Order
		}
		s.orders[so.RequestID] = o
		if !o.done() && s.stock != nil {
			s.stock.hold(o.order)
		}
	}
	for id, at := range st.Accepted {
		s.accepted[id] = at.time()
	}
	for _, it := range st.Items {
		s.items[it.Code] = it
	}
	s.stats = st.Stats
	s.stats.Outbox = 0
	s.seq = max(s.seq, st.Seq)
	s.overrides = st.Overrides
	s.nextReport = st.NextReport
	for _, r := range st.Outbox {
		s.outbox[r.Cabinet] = append(s.outbox[r.Cabinet], &outReport{savedReport: r, done: make(chan struct{})})
		s.outboxLen++
	}
	for _, q := range s.outbox {
		slices.SortFunc(q, func(a, b *outReport) int { return cmp.Compare(a.Seq, b.Seq) })
	}
	return nil
}

// snapshotLocked copies the durable state, so that it can be sorted and encoded without the
// lock.
func (s *Sim) snapshotLocked(now time.Time) *savedState {
	st := &savedState{
		Format: stateFormat, SavedAt: now, Seq: s.seq, Overrides: s.overrides, NextReport: s.nextReport,
		Orders: make([]savedOrder, 0, len(s.orders)), Accepted: make(map[string]micros, len(s.accepted)),
		Items: make([]cabinet.Item, 0, len(s.items)), Stats: s.statsLocked(), Outbox: make([]savedReport, 0, s.outboxLen),
	}
	if s.stock != nil {
		st.Cabinet = s.stock.cabinet
		for _, p := range s.stock.pockets {
			st.Pockets = append(st.Pockets, p.StockPocket)
		}
	}
	for id, at := range s.accepted {
		st.Accepted[id] = microsOf(at)
	}
	for id, o := range s.orders {
		so := savedOrder{RequestID: id, Cabinet: o.order.CabinetCode, AcceptedAt: microsOf(o.acceptedAt), DueAt: microsOf(o.dueAt),
			Cancelled: o.cancelled, Withdrawn: o.withdrawn, DoneAt: microsOf(o.doneAt), Applied: o.applied}
		if !o.done() {
			ord := o.order // its lines are never changed once accepted: sharing them is safe
			so.Order = &ord
		}
		st.Orders = append(st.Orders, so)
	}
	for _, it := range s.items {
		st.Items = append(st.Items, it)
	}
	for _, q := range s.outbox {
		for _, r := range q {
			st.Outbox = append(st.Outbox, r.savedReport)
		}
	}
	return st
}

// sort puts the lists of a snapshot in a fixed order (done without the lock).
func (st *savedState) sort() {
	slices.SortFunc(st.Orders, func(a, b savedOrder) int {
		return cmp.Or(cmp.Compare(a.AcceptedAt, b.AcceptedAt), cmp.Compare(a.RequestID, b.RequestID))
	})
	slices.SortFunc(st.Items, func(a, b cabinet.Item) int { return cmp.Compare(a.Code, b.Code) })
	slices.SortFunc(st.Outbox, func(a, b savedReport) int { return cmp.Compare(a.Seq, b.Seq) })
}

// changedLocked records a change of the durable state and returns its generation: the
// change is on disk once a write of that generation (or a later one) has finished.
func (s *Sim) changedLocked() uint64 {
	s.gen++
	if s.cfg.StateFile == "" {
		s.flushed = s.gen // in memory: nothing to wait for
		return s.gen
	}
	select {
	case s.dirty <- struct{}{}:
	default:
	}
	return s.gen
}

// durable waits until the state of generation gen is on disk. It returns the write's error
// when the write that should have carried it failed, and an error when ctx ends or the
// simulator closes first.
func (s *Sim) durable(ctx context.Context, gen uint64) error {
	for {
		s.mu.Lock()
		if s.flushed >= gen {
			s.mu.Unlock()
			return nil
		}
		if s.flushErr != nil && s.failedGen >= gen {
			err := s.flushErr
			s.mu.Unlock()
			return err
		}
		written := s.written
		s.mu.Unlock()
		select {
		case <-written:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.ctx.Done():
			return errClosed
		}
	}
}

// flushLoop writes the state file whenever it changed, at most every flushEvery (or twice
// the last write's time, if longer): a burst of changes costs one write. It ends with the
// simulator; Close writes what is left.
func (s *Sim) flushLoop() {
	defer s.wg.Done()
	var next time.Time
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.dirty:
		}
		if d := time.Until(next); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return
			}
		}
		began := time.Now()
		err := s.flush()
		// A write that takes long (a large state, a slow disk) spaces the next one out, so
		// that writing never takes more than about a third of the time.
		next = time.Now().Add(max(s.flushEvery, 2*time.Since(began)))
		if err != nil {
			s.logger.Error("cabinet simulator state not written; retrying", "file", s.cfg.StateFile, "error", err)
			next = time.Now().Add(flushRetry)
			select {
			case s.dirty <- struct{}{}:
			default:
			}
		}
	}
}

// flush writes the state file if it changed since the last write, and wakes whoever waits
// for it.
func (s *Sim) flush() error {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	now := time.Now()
	s.mu.Lock()
	gen := s.gen
	if gen == s.flushed {
		s.mu.Unlock()
		return nil
	}
	if now.Sub(s.pruned) >= pruneEvery {
		s.pruneLocked(now)
	}
	st := s.snapshotLocked(now)
	s.mu.Unlock()

	st.sort()
	raw, err := json.Marshal(st)
	if err == nil {
		err = writeFileAtomic(s.cfg.StateFile, raw)
	}
	s.mu.Lock()
	if err == nil {
		s.flushed, s.flushErr = max(s.flushed, gen), nil
	} else {
		s.flushErr, s.failedGen = err, gen
	}
	close(s.written)
	s.written = make(chan struct{})
	s.mu.Unlock()
	return err
}

// pruneLocked forgets orders done, and control ids acknowledged, more than retention ago,
// and the oldest beyond maxDone and maxAccepted.
func (s *Sim) pruneLocked(now time.Time) {
	s.pruned = now
	limit := now.Add(-s.retention)
	type aged struct {
		key string
		at  time.Time
	}
	var done, ids []aged
	for id, o := range s.orders {
		if o.done() {
			done = append(done, aged{id, o.doneAt})
		}
	}
	for id, at := range s.accepted {
		ids = append(ids, aged{id, at})
	}
	forget := func(list []aged, most int, drop func(string)) {
		slices.SortFunc(list, func(a, b aged) int { return b.at.Compare(a.at) }) // newest first
		for i, a := range list {
			if i >= most || a.at.Before(limit) {
				drop(a.key)
			}
		}
	}
	forget(done, s.maxDone, func(id string) { delete(s.orders, id) })
	forget(ids, maxAccepted, func(id string) { delete(s.accepted, id) })
}

// writeFileAtomic replaces path with data so that a reader, or a restart after a crash at
// any moment, finds either the old file or the new one, whole: it writes a temporary file in
// the same folder, syncs it, renames it over path and syncs the folder.
func writeFileAtomic(path string, data []byte) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeStaleTemps removes temporary files a crash left beside the state file: they were
// never renamed, so they were never the state.
func removeStaleTemps(path string) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	stale, _ := filepath.Glob(filepath.Join(dir, globEscape(base)+".tmp-*"))
	for _, f := range stale {
		_ = os.Remove(f)
	}
}

// globEscape escapes the pattern characters of a file name for filepath.Glob.
func globEscape(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
