// Package simuser is the simulated users of the REST API, shared by the load tool (loadtest)
// and the fault scenarios (faultsuite). Each user carries a token of their own, signed with
// the system's secret (internal/token), so the API sees many users, not one; each calls the
// API through the client generated from its document (api/client). Nothing of the API
// server is imported: the simulation talks to the API only as its clients do.
package simuser

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	apiclient "github.com/medreq/pyxis/api/client"
	"github.com/medreq/pyxis/internal/token"
)

// Pace bounds how fast one user calls: PerSecond calls a second, in bursts of Burst. The
// zero Pace does not bound.
type Pace struct {
	PerSecond float64
	Burst     int
}

// People mints users on first use, each with a token of their own.
type People struct {
	secret []byte
	label  string
	ttl    time.Duration
	pace   Pace

	mu    sync.Mutex
	users map[string]*User
}

// NewPeople returns the users of a simulation: tokens signed with secret, valid for ttl,
// naming each user label and their id; every user calls at pace.
func NewPeople(secret []byte, label string, ttl time.Duration, pace Pace) *People {
	return &People{secret: secret, label: label, ttl: ttl, pace: pace, users: map[string]*User{}}
}

// Get returns the user with this id and role, minting their token the first time.
func (p *People) Get(id, role string) (*User, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u, ok := p.users[id]; ok {
		return u, nil
	}
	name := strings.TrimSpace(p.label + " " + id)
	tok, err := token.Sign(p.secret, token.Holder{Subject: id, Name: name, Role: role}, p.ttl, time.Now())
	if err != nil {
		return nil, fmt.Errorf("token for %s: %w", id, err)
	}
	u := &User{ID: id, Role: role, auth: apiclient.BearerToken(tok)}
	if p.pace.PerSecond > 0 {
		u.lim = rate.NewLimiter(rate.Limit(p.pace.PerSecond), max(p.pace.Burst, 1))
	}
	p.users[id] = u
	return u, nil
}

// User is one simulated person.
type User struct {
	ID, Role string
	// auth sends the user's token with a call of the generated client.
	auth apiclient.RequestEditorFn
	// lim paces the user's calls; nil: no pace.
	lim *rate.Limiter
}

// wait waits until the user's pace lets the next call go.
func (u *User) wait(ctx context.Context) error {
	if u.lim == nil {
		return nil
	}
	return u.lim.Wait(ctx)
}
