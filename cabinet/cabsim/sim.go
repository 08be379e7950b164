package cabsim

import (
	"context"
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

// Stats counts what the simulator did; GET /stats returns it.
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
	// the duplicate fault counts once.
	ReportsSent int `json:"reports_sent"`
	// ReportsFailed counts reports given up after their retries.
	ReportsFailed int `json:"reports_failed"`
}

// Sim is a running simulated cabinet.
type Sim struct {
	cfg      Config
	logger   *slog.Logger
	reporter *mllp.Client // nil without ReportTo
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu       sync.Mutex
	faults   Faults
	stock    *stock // nil: any medication is accepted
	orders   map[string]*simOrder
	accepted map[string]bool // control ids acknowledged AA
	items    map[string]cabinet.Item
	stats    Stats
	// overrides numbers the overrides reported, so each gets a control id of its own.
	overrides int
	seq       int64
	closed    bool
	// backoff is the first wait before resending a report (reportBackoff; tests shorten it).
	backoff time.Duration

	srvMu  sync.Mutex // guards srv and the listener's life, apart from mu
	srv    *mllp.Server
	addr   string
	admin  *http.Server
	adminL net.Listener
}

type simOrder struct {
	order     cabinet.Order
	cancelled bool
	withdrawn bool
	timer     *time.Timer
}

// New checks cfg, reads the stock file and returns a simulator that Start sets going.
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
	s := &Sim{
		cfg:      cfg,
		logger:   slog.Default(),
		faults:   faults,
		orders:   make(map[string]*simOrder),
		accepted: make(map[string]bool),
		items:    make(map[string]cabinet.Item),
		seq:      time.Now().UnixMilli(),
		backoff:  reportBackoff,
	}
	if cfg.StockFile != "" {
		sf, err := LoadStock(cfg.StockFile)
		if err != nil {
			return nil, err
		}
		s.stock = newStock(sf)
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
	s.logger.Info("cabinet simulator running", "mllp", s.Addr(), "admin", s.AdminAddr(),
		"report_to", cfg.ReportTo, "format", s.cfg.ReportFormat, "faults", s.Faults().List())
	<-ctx.Done()
	return s.Close()
}

// Start binds the MLLP listener (then closes it again when starting offline, keeping its
// address) and the admin endpoint, and serves them until Close or the end of ctx.
func (s *Sim) Start(ctx context.Context) error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("cabsim: listen on %s: %w", s.cfg.Listen, err)
	}
	s.addr = ln.Addr().String()
	ln.Close()
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

// Stats returns the counts so far.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close stops the listeners and pending withdrawals and waits for reports in flight.
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
	if s.reporter != nil {
		err = errors.Join(err, s.reporter.Close())
	}
	return err
}
