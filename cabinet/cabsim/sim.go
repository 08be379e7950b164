package cabsim

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/mllp"
)

// Stats counts what the simulator did; GET /stats returns it. With a state file the counts
// go on across restarts.
type Stats struct {
	// OrdersAccepted counts authorizations acknowledged AA the first time.
	OrdersAccepted int `json:"orders_accepted"`
	// DuplicatesRecognised counts orders acknowledged AA again without effect: a control id
	// already accepted, or a NW for a request already held.
	DuplicatesRecognised int `json:"duplicates_recognised"`
	// OrdersCancelled counts held orders cancelled by a CA before their withdrawal.
	OrdersCancelled int `json:"orders_cancelled"`
	// OrdersRefused counts orders answered AE (reject fault, stock, wrong cabinet).
	OrdersRefused int `json:"orders_refused"`
	// OrdersDeferred counts messages answered AR under the busy fault.
	OrdersDeferred int `json:"orders_deferred"`
	// ItemsUpdated counts item master updates (MFN^M01) applied, repeats included.
	ItemsUpdated int `json:"items_updated"`
	// ReportsSent counts reports acknowledged AA by the system; a report sent twice under
	// the duplicate fault counts once, and so does a report sent many times before its AA.
	ReportsSent int `json:"reports_sent"`
	// ReportsFailed counts reports the system refused AE: they are not sent again.
	ReportsFailed int `json:"reports_failed"`
	// Outbox is the number of reports waiting for the system's AA now.
	Outbox int `json:"outbox"`
	// Failures are the last reports refused AE, with the system's reason, oldest first.
	Failures []ReportFailure `json:"failures,omitempty"`
}

// Sim is a running simulated cabinet.
type Sim struct {
	cfg      Config
	logger   *slog.Logger
	clock    clock
	reporter *mllp.Client // nil without ReportTo
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu       sync.Mutex
	faults   Faults
	stock    *stock // nil: any medication is accepted
	orders   map[string]*simOrder
	accepted map[string]time.Time // control ids acknowledged AA, and when
	items    map[string]cabinet.Item
	stats    Stats
	// overrides numbers the overrides reported, so each gets a control id of its own.
	overrides int
	seq       int64
	started   bool
	closed    bool

	// outbox holds, per cabinet and in the order queued, the reports not yet answered AA
	// or AE; senders marks the cabinets whose queue a sendLoop is delivering.
	outbox     map[string][]*outReport
	outboxLen  int
	nextReport int64
	senders    map[string]bool
	// backoff and maxBackoff pace the resending of a report (reportBackoff,
	// reportMaxBackoff; tests shorten them).
	backoff, maxBackoff time.Duration

	// gen counts the changes of the durable state, flushed is the last generation on disk;
	// written is closed (and replaced) after each write of the state file; flushErr is the
	// error of the last write if it failed, for the changes up to failedGen. dirty wakes
	// flushLoop. All but dirty are guarded by mu.
	gen, flushed, failedGen uint64
	flushErr                error
	written                 chan struct{}
	dirty                   chan struct{}
	fileMu                  sync.Mutex // one write of the state file at a time
	pruned                  time.Time
	flushEvery, retention   time.Duration
	maxDone                 int

	srvMu  sync.Mutex // guards srv and the listener's life, apart from mu
	srv    *mllp.Server
	addr   string
	admin  *http.Server
	adminL net.Listener
}

type simOrder struct {
	order      cabinet.Order
	acceptedAt time.Time
	// dueAt is when the simulated nurse withdraws it; zero: only through Withdraw.
	dueAt     time.Time
	cancelled bool
	withdrawn bool
	doneAt    time.Time
	timer     timer
	// applied counts the dispense authorizations applied for the request: more than one
	// would let a nurse withdraw it twice (pyxis check reads it, GET /orders).
	applied int
}

// done says the order was cancelled or withdrawn.
func (o *simOrder) done() bool { return o.cancelled || o.withdrawn }

// New checks cfg, reads the stock file and the state file, and returns a simulator that
// Start sets going. A state file that exists but does not read whole is an error.
func New(cfg Config) (*Sim, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	faults, err := ParseFaults(cfg.Faults)
	if err != nil {
		return nil, err
	}
	if cfg.ReportFormat == "" {
		cfg.ReportFormat = FormatRDS
	}
	if cfg.Admin != "" && cfg.AdminToken == "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		cfg.AdminToken = hex.EncodeToString(b)
	}
	s := &Sim{
		cfg:        cfg,
		logger:     slog.Default(),
		clock:      wallClock{},
		faults:     faults,
		orders:     make(map[string]*simOrder),
		accepted:   make(map[string]time.Time),
		items:      make(map[string]cabinet.Item),
		seq:        time.Now().UnixMilli(),
		outbox:     make(map[string][]*outReport),
		senders:    make(map[string]bool),
		backoff:    reportBackoff,
		maxBackoff: reportMaxBackoff,
		written:    make(chan struct{}),
		dirty:      make(chan struct{}, 1),
		flushEvery: flushEvery,
		retention:  retention,
		maxDone:    maxDone,
	}
	if cfg.StockFile != "" {
		sf, err := LoadStock(cfg.StockFile)
		if err != nil {
			return nil, err
		}
		s.stock = newStock(sf)
	}
	if cfg.StateFile != "" {
		st, err := readState(cfg.StateFile)
		if err != nil {
			return nil, err
		}
		if st != nil {
			if err := s.restore(st); err != nil {
				return nil, err
			}
		}
		removeStaleTemps(cfg.StateFile)
	}
	if cfg.ReportTo != "" {
		s.reporter = mllp.NewClient(cfg.ReportTo, mllp.ClientOptions{
			DialTimeout: 2 * time.Second, AckTimeout: 10 * time.Second, DialAttempts: 1,
		})
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Run starts a simulator, logs where it listens and runs it until ctx ends.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	if logger != nil {
		s.logger = logger
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	st := s.Stats()
	if cfg.Admin != "" && cfg.AdminToken == "" {
		// Made up at start: whoever runs the simulator needs it to reach the admin endpoint.
		s.logger.Info("cabinet simulator admin token (send as Authorization: Bearer; set PYXIS_SIM_ADMIN_TOKEN to choose it)", "token", s.cfg.AdminToken)
	}
	s.logger.Info("cabinet simulator running", "mllp", s.Addr(), "admin", s.AdminAddr(),
		"report_to", cfg.ReportTo, "format", s.cfg.ReportFormat, "faults", s.Faults().List(),
		"state", cfg.StateFile, "orders_accepted", st.OrdersAccepted, "outbox", st.Outbox)
	<-ctx.Done()
	return s.Close()
}

// Start binds the MLLP listener (then closes it again when starting offline, keeping its
// address) and the admin endpoint, and serves them until Close or the end of ctx. It carries
// on from the state file: the held orders whose withdrawal fell due while the simulator was
// down are withdrawn at once, in the order they fell due, the others at their time, and the
// reports of the outbox are sent again.
func (s *Sim) Start(ctx context.Context) error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("cabsim: listen on %s: %w", s.cfg.Listen, err)
	}
	s.addr = ln.Addr().String()
	ln.Close()
	if err := s.resume(); err != nil {
		return err
	}
	if !s.Faults().Offline {
		if err := s.startServerLocked(); err != nil {
			return err
		}
	}
	if s.cfg.Admin != "" {
		if err := s.startAdminLocked(); err != nil {
			s.stopServerLocked()
			return err
		}
	}
	context.AfterFunc(ctx, func() { _ = s.Close() })
	return nil
}

// startServerLocked opens the MLLP listener on the simulator's address.
func (s *Sim) startServerLocked() error {
	srv := mllp.NewServer(s.handleOrder, mllp.ServerOptions{Logger: s.logger})
	if err := srv.Listen(s.addr); err != nil {
		return fmt.Errorf("cabsim: %w", err)
	}
	s.srv = srv
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(s.ctx)
	}()
	return nil
}

// stopServerLocked closes the MLLP listener and its connections, giving answers in flight a
// moment.
func (s *Sim) stopServerLocked() {
	if s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	s.srv = nil
}

// Addr returns the MLLP address orders go to; it stays the same while offline.
func (s *Sim) Addr() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	return s.addr
}

// AdminAddr returns the admin HTTP address, or "" without one.
// AdminToken is the bearer token the admin endpoint requires ("" without an endpoint).
func (s *Sim) AdminToken() string { return s.cfg.AdminToken }

func (s *Sim) AdminAddr() string {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.adminL == nil {
		return ""
	}
	return s.adminL.Addr().String()
}

// Faults returns the faults shown now.
func (s *Sim) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// SetFaults replaces the faults shown; going offline closes the MLLP listener and coming
// back opens it again on the same address.
func (s *Sim) SetFaults(f Faults) error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("cabsim: closed")
	}
	s.faults = f
	s.mu.Unlock()
	switch {
	case f.Offline && s.srv != nil:
		s.stopServerLocked()
	case !f.Offline && s.srv == nil && s.addr != "":
		return s.startServerLocked()
	}
	return nil
}

// Items returns the item master, sorted by code.
func (s *Sim) Items() []cabinet.Item {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]cabinet.Item, 0, len(s.items))
	for _, it := range s.items {
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b cabinet.Item) int { return strings.Compare(a.Code, b.Code) })
	return out
}

// Stats returns the counts so far and the size of the outbox.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statsLocked()
}

func (s *Sim) statsLocked() Stats {
	st := s.stats
	st.Outbox = s.outboxLen
	st.Failures = slices.Clone(st.Failures)
	return st
}

// resume starts the state file's writer, the withdrawals held orders wait for and the
// delivery of the outbox.
func (s *Sim) resume() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return errClosed
	case s.started:
		return errors.New("cabsim: started twice")
	}
	s.started = true
	if s.cfg.StateFile != "" {
		s.wg.Add(1)
		go s.flushLoop()
	}
	var due []*simOrder
	for _, o := range s.orders {
		if !o.done() && !o.dueAt.IsZero() {
			due = append(due, o)
		}
	}
	slices.SortFunc(due, func(a, b *simOrder) int {
		return cmp.Or(a.dueAt.Compare(b.dueAt), cmp.Compare(a.order.RequestID, b.order.RequestID))
	})
	now := s.clock.Now()
	for _, o := range due {
		if o.dueAt.After(now) || s.reporter == nil {
			s.scheduleLocked(o)
			continue
		}
		if _, err := s.withdrawLocked(o.order.RequestID, nil, now); err != nil {
			s.logger.Warn("overdue withdrawal not reported", "request_id", o.order.RequestID, "error", err)
		}
	}
	for cabinetCode := range s.outbox {
		s.startSenderLocked(cabinetCode)
	}
	return nil
}

// Close stops the listeners, pending withdrawals and the delivery of reports, and writes
// the state file a last time. Reports not yet acknowledged stay in it.
func (s *Sim) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, o := range s.orders {
		if o.timer != nil && o.timer.Stop() {
			s.wg.Done()
		}
	}
	s.mu.Unlock()
	s.cancel()
	s.srvMu.Lock()
	s.stopServerLocked()
	var err error
	if s.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = s.admin.Shutdown(ctx)
		cancel()
	}
	s.srvMu.Unlock()
	s.wg.Wait()
	if s.cfg.StateFile != "" {
		if ferr := s.flush(); ferr != nil {
			err = errors.Join(err, fmt.Errorf("cabsim: write state file: %w", ferr))
		}
	}
	if s.reporter != nil {
		err = errors.Join(err, s.reporter.Close())
	}
	return err
}
