package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/internal/textcheck"
)

// userStore is what the users routes use of the database (db.CatalogueStore).
type userStore interface {
	ListUsers(ctx context.Context) ([]db.User, error)
	GetUser(ctx context.Context, id string) (db.User, error)
	CreateUser(ctx context.Context, u db.User, by pyxis.Actor) (db.User, error)
	UpdateUser(ctx context.Context, id string, p db.UserPatch, by pyxis.Actor) (db.User, error)
}

// Bounds of a user's fields.
const (
	maxRegistrationLen = 64
	maxUnitLen         = 200
)

// UserBody is the body of POST /v1/users. ID is the subject of the user's tokens; Active
// defaults to true.
type UserBody struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Role         string `json:"role"`
	Registration string `json:"registration"`
	Unit         string `json:"unit"`
	Active       *bool  `json:"active"`
}

// UserPatchBody is the body of PATCH /v1/users/{id}: the fields to change; at least one.
type UserPatchBody struct {
	Name         *string `json:"name"`
	Role         *string `json:"role"`
	Registration *string `json:"registration"`
	Unit         *string `json:"unit"`
	Active       *bool   `json:"active"`
}

// UserView is a user of the directory.
type UserView struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Role         string    `json:"role"`
	Registration string    `json:"registration"`
	Unit         string    `json:"unit"`
	Active       bool      `json:"active"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func userView(u db.User) UserView {
	return UserView{ID: u.ID, Name: u.Name, Role: u.Role, Registration: u.Registration, Unit: u.Unit,
		Active: u.Active, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

func (s *Server) listUsers(c *gin.Context) {
	users, err := s.users.ListUsers(c.Request.Context())
	if err != nil {
		abort(c, err)
		return
	}
	writeList(c, users, userView, "")
}

func (s *Server) getUser(c *gin.Context, id string) {
	if err := pathUserID(id); err != nil {
		abort(c, err)
		return
	}
	u, err := s.users.GetUser(c.Request.Context(), id)
	if errors.Is(err, pyxis.ErrNotFound) {
		err = notFound("user")
	}
	if err != nil {
		abort(c, err)
		return
	}
	c.JSON(http.StatusOK, userView(u))
}

func (s *Server) createUser(c *gin.Context) {
	var body UserBody
	if err := bindJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	var fe fields
	fe.checkUserID("id", body.ID)
	fe.checkLine("name", body.Name, true, maxNameLen)
	fe.checkRole("role", body.Role)
	fe.checkLine("registration", body.Registration, false, maxRegistrationLen)
	fe.checkLine("unit", body.Unit, false, maxUnitLen)
	if err := fe.err(); err != nil {
		abort(c, err)
		return
	}
	active := body.Active == nil || *body.Active
	u, err := s.users.CreateUser(c.Request.Context(), db.User{
		ID: body.ID, Name: body.Name, Role: body.Role, Registration: body.Registration, Unit: body.Unit, Active: active,
	}, actor(c))
	if errors.Is(err, pyxis.ErrConflict) {
		err = newError(http.StatusConflict, CodeConflict, "a user with id "+body.ID+" exists", nil)
	}
	if err != nil {
		abort(c, err)
		return
	}
	s.dir.forget(u.ID)
	c.Header("Location", "/v1/users/"+u.ID)
	c.JSON(http.StatusCreated, userView(u))
}

func (s *Server) patchUser(c *gin.Context, id string) {
	if err := pathUserID(id); err != nil {
		abort(c, err)
		return
	}
	var body UserPatchBody
	if err := bindJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	var fe fields
	if body == (UserPatchBody{}) {
		fe.add("body", "nothing to change: give at least one of name, role, registration, unit, active")
	}
	if body.Name != nil {
		fe.checkLine("name", *body.Name, true, maxNameLen)
	}
	if body.Role != nil {
		fe.checkRole("role", *body.Role)
		if s.cfg.Auth == AuthJWKS {
			// The provider's token decides the role, every time; the directory only mirrors it.
			fe.add("role", "comes from the identity provider (PYXIS_AUTH=jwks): change it there, or deactivate the user here")
		}
	}
	if body.Registration != nil {
		fe.checkLine("registration", *body.Registration, false, maxRegistrationLen)
	}
	if body.Unit != nil {
		fe.checkLine("unit", *body.Unit, false, maxUnitLen)
	}
	if err := fe.err(); err != nil {
		abort(c, err)
		return
	}
	// An admin does not raise themselves: a second admin changes their role, or reactivates
	// them. (Deactivating oneself, or changing one's name, raises nothing.)
	if id == actor(c).ID && (body.Role != nil || (body.Active != nil && *body.Active)) {
		abort(c, newError(http.StatusForbidden, CodeForbidden, "an admin cannot change their own role or reactivate themselves", nil))
		return
	}
	u, err := s.users.UpdateUser(c.Request.Context(), id, db.UserPatch{
		Name: body.Name, Role: body.Role, Registration: body.Registration, Unit: body.Unit, Active: body.Active,
	}, actor(c))
	if errors.Is(err, pyxis.ErrNotFound) {
		err = notFound("user")
	}
	if err != nil {
		abort(c, err)
		return
	}
	s.dir.forget(u.ID)
	c.JSON(http.StatusOK, userView(u))
}

// pathUserID checks the user id of the path; one no user can have names no user.
func pathUserID(id string) error {
	if id == "" || len(id) > maxSubjectLen || textcheck.Check(id, textcheck.Line) != nil {
		return notFound("user")
	}
	return nil
}

// checkUserID checks a user id: a token's subject, so what a token may carry.
func (f *fields) checkUserID(field, id string) {
	switch {
	case id == "":
		f.add(field, "is required: the subject (sub) of the user's tokens")
	case strings.TrimSpace(id) != id:
		f.add(field, "must not begin or end with spaces")
	case strings.ContainsRune(id, '/'):
		f.add(field, "must not contain /")
	default:
		f.checkLine(field, id, true, maxSubjectLen)
	}
}

// checkLine checks a one-line text field: its length, and what may be stored (textcheck).
func (f *fields) checkLine(field, v string, required bool, max int) {
	n := len(*f)
	f.checkString(field, v, required, max)
	if len(*f) > n {
		return
	}
	if err := textcheck.Check(v, textcheck.Line); err != nil {
		f.add(field, "%v", err)
	}
}

// checkRole checks a user's role.
func (f *fields) checkRole(field, role string) {
	if !slices.Contains(tokenRoles, role) {
		f.add(field, "must be one of %s", strings.Join(tokenRoles, ", "))
	}
}
