package api

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
)

// directoryStore is what the users directory reads and adds (db.CatalogueStore).
type directoryStore interface {
	GetUser(ctx context.Context, id string) (db.User, error)
	EnsureUser(ctx context.Context, u db.User, by pyxis.Actor) (db.User, error)
	UpdateUser(ctx context.Context, id string, p db.UserPatch, by pyxis.Actor) (db.User, error)
}

// MaxUserCacheTTL bounds Config.UserCacheTTL: a deactivated user's tokens are refused by every
// API process within it, well inside a minute.
const MaxUserCacheTTL = 30 * time.Second

// maxDirectoryEntries bounds the directory cache; past it, the cache starts over.
const maxDirectoryEntries = 10_000

var (
	errUnknownUser  = errors.New("the token's subject is not in the users directory")
	errInactiveUser = errors.New("the user is deactivated")
)

// directory is the users directory as the authentication middleware consults it: for every
// request, the token's subject is looked up, a deactivated user is refused, and the
// directory's role, name and unit replace what the token says. A subject the directory does
// not know is added on first sight (just in time: the token's name and role, no unit) unless
// known users are required. Entries are cached per process for ttl; changes made through this
// process's /v1/users take effect at once, others within ttl.
//
// With providerRoles (PYXIS_AUTH=jwks) the identity provider decides the role: the token's
// role is used every time, so a demotion there takes effect with the next token, and the
// directory mirrors the last role it saw (audited as a change by the system). The directory
// can then only take access away (deactivate), never give a role the provider did not.
type directory struct {
	store         directoryStore
	ttl           time.Duration
	requireKnown  bool
	providerRoles bool

	mu      sync.Mutex
	entries map[string]directoryEntry
}

type directoryEntry struct {
	user    db.User
	known   bool
	expires time.Time
}

func newDirectory(store directoryStore, ttl time.Duration, requireKnown bool) *directory {
	return &directory{store: store, ttl: min(max(ttl, 0), MaxUserCacheTTL), requireKnown: requireKnown, entries: map[string]directoryEntry{}}
}

// resolve returns p as the directory knows it, or errUnknownUser, errInactiveUser, or the
// error of a directory that does not answer.
func (d *directory) resolve(ctx context.Context, p Principal) (Principal, error) {
	e, err := d.lookup(ctx, p)
	switch {
	case err != nil:
		return Principal{}, err
	case !e.known:
		return Principal{}, errUnknownUser
	case !e.user.Active:
		return Principal{}, errInactiveUser
	}
	if d.providerRoles {
		if e.user.Role != p.Role {
			if err := d.mirror(ctx, p); err != nil {
				return Principal{}, err
			}
		}
		p.Name, p.Unit, p.Registration = e.user.Name, e.user.Unit, e.user.Registration
		return p, nil
	}
	p.Role, p.Name, p.Unit, p.Registration = e.user.Role, e.user.Name, e.user.Unit, e.user.Registration
	return p, nil
}

// mirror records the role the provider's token asserts as the user's role in the directory.
func (d *directory) mirror(ctx context.Context, p Principal) error {
	role := p.Role
	u, err := d.store.UpdateUser(ctx, p.ID, db.UserPatch{Role: &role}, pyxis.Actor{ID: pyxis.System.ID, Role: pyxis.System.Role, Name: "identity provider"})
	if err != nil {
		return err
	}
	d.remember(p.ID, directoryEntry{user: u, known: true}, time.Now())
	return nil
}

func (d *directory) lookup(ctx context.Context, p Principal) (directoryEntry, error) {
	now := time.Now()
	d.mu.Lock()
	e, ok := d.entries[p.ID]
	d.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e, nil
	}
	u, err := d.store.GetUser(ctx, p.ID)
	switch {
	case err == nil:
		e = directoryEntry{user: u, known: true}
	case errors.Is(err, pyxis.ErrNotFound) && d.requireKnown:
		e = directoryEntry{}
	case errors.Is(err, pyxis.ErrNotFound):
		name := p.Name
		if name == "" {
			name = p.ID
		}
		u, err = d.store.EnsureUser(ctx, db.User{ID: p.ID, Name: name, Role: p.Role, Active: true},
			pyxis.Actor{ID: p.ID, Role: p.Role, Name: name})
		if err != nil {
			return e, err
		}
		e = directoryEntry{user: u, known: true}
	default:
		return e, err
	}
	d.remember(p.ID, e, now)
	return e, nil
}

func (d *directory) remember(id string, e directoryEntry, now time.Time) {
	if d.ttl <= 0 {
		return
	}
	e.expires = now.Add(d.ttl)
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.entries) >= maxDirectoryEntries {
		clear(d.entries)
	}
	d.entries[id] = e
}

// forget drops a user's cached entry, after a change through this process.
func (d *directory) forget(id string) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.entries, id)
}
