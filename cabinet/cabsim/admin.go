package cabsim

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// adminWait bounds how long POST /withdraw, /override and /event wait for the system's AA
// before answering 202 (queued).
const adminWait = 10 * time.Second

// startAdminLocked binds and serves the admin HTTP endpoint.
func (s *Sim) startAdminLocked() error {
	ln, err := net.Listen("tcp", s.cfg.Admin)
	if err != nil {
		return fmt.Errorf("cabsim: admin listen on %s: %w", s.cfg.Admin, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /items", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Items())
	})
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string][]string{"faults": s.Faults().List()})
	})
	mux.HandleFunc("POST /faults", s.postFaults)
	mux.HandleFunc("POST /withdraw", s.postWithdraw)
	mux.HandleFunc("POST /override", s.postOverride)
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Orders())
	})
	mux.HandleFunc("POST /event", s.postEvent)
	s.admin = &http.Server{
		Handler:           s.requireToken(mux),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      time.Minute,
	}
	s.adminL = ln
	srv := s.admin
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("cabsim admin endpoint stopped", "error", err)
		}
	}()
	return nil
}

// requireToken refuses every admin request without the simulator's bearer token (401): the
// endpoint moves stock and withdraws orders, and a browser page or any host that reaches the
// port must not.
func (s *Sim) requireToken(next http.Handler) http.Handler {
	want := []byte("Bearer " + s.cfg.AdminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if s.cfg.AdminToken == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cabinet-sim"`)
			writeError(w, http.StatusUnauthorized, errors.New("the admin endpoint needs Authorization: Bearer <PYXIS_SIM_ADMIN_TOKEN>"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Sim) postFaults(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Faults []string `json:"faults"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	f, err := ParseFaults(body.Faults)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if err := s.SetFaults(f); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	s.logger.Info("faults set", "faults", f.List())
	writeJSON(w, http.StatusOK, map[string][]string{"faults": f.List()})
}

func (s *Sim) postWithdraw(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Order string     `json:"order"`
		Lines []VendLine `json:"lines"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if body.Order == "" {
		writeError(w, http.StatusBadRequest, errors.New("order is required"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminWait)
	defer cancel()
	ids, err := s.Withdraw(ctx, body.Order, body.Lines)
	switch {
	case errors.Is(err, ErrQueued):
		writeJSON(w, http.StatusAccepted, map[string]any{"reports": ids, "queued": true})
	case err != nil:
		writeError(w, statusOf(err), err)
	default:
		writeJSON(w, http.StatusOK, map[string][]string{"reports": ids})
	}
}

func (s *Sim) postOverride(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Cabinet string     `json:"cabinet"`
		Order   string     `json:"order"`
		Lines   []VendLine `json:"lines"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminWait)
	defer cancel()
	id, err := s.Override(ctx, body.Cabinet, body.Order, body.Lines)
	writeReported(w, id, err)
}

func (s *Sim) postEvent(w http.ResponseWriter, r *http.Request) {
	var pe PocketEvent
	if !readJSON(w, r, &pe) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminWait)
	defer cancel()
	id, err := s.SendEvent(ctx, pe)
	writeReported(w, id, err)
}

// writeReported answers a request that queued one report: 200 once it was acknowledged, 202
// while it waits in the outbox, an error otherwise.
func writeReported(w http.ResponseWriter, id string, err error) {
	switch {
	case errors.Is(err, ErrQueued):
		writeJSON(w, http.StatusAccepted, map[string]any{"control_id": id, "queued": true})
	case err != nil:
		writeError(w, statusOf(err), err)
	default:
		writeJSON(w, http.StatusOK, map[string]string{"control_id": id})
	}
}

// statusOf maps the simulator's errors to HTTP statuses; a report the system refused is a
// bad gateway.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrUnknownOrder):
		return http.StatusNotFound
	case errors.Is(err, ErrNotPending):
		return http.StatusConflict
	case errors.Is(err, ErrBadEvent):
		return http.StatusBadRequest
	case errors.Is(err, ErrNoReportTo), errors.Is(err, errClosed):
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadGateway
	}
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad JSON body: %w", err))
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
