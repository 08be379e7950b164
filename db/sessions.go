package db

import (
	"context"
	"time"

	"github.com/medreq/pyxis/db/gen"
)

// SessionStore keeps the web console's sessions, by the hash of their id (the id itself
// stays in the browser's cookie).
type SessionStore struct{ conn }

// ConsoleSession is what the server keeps of a console session.
type ConsoleSession struct {
	// Token authenticates every call of the session, as a bearer token would.
	Token string
	// Refresh is the identity provider's refresh token ("" for none).
	Refresh string
	// CSRF is the token every change the session makes must carry.
	CSRF      string
	ExpiresAt time.Time
}

// CreateSession stores a session under idHash.
func (s *SessionStore) CreateSession(ctx context.Context, idHash []byte, sess ConsoleSession) error {
	return wrap("create session", s.q.CreateConsoleSession(ctx, gen.CreateConsoleSessionParams{
		IDHash: idHash, Token: sess.Token, Refresh: sess.Refresh, Csrf: sess.CSRF, ExpiresAt: sess.ExpiresAt,
	}))
}

// GetSession returns the unexpired session stored under idHash, or ErrNotFound.
func (s *SessionStore) GetSession(ctx context.Context, idHash []byte) (ConsoleSession, error) {
	row, err := s.q.GetConsoleSession(ctx, idHash)
	if err != nil {
		return ConsoleSession{}, wrap("get session", err)
	}
	return ConsoleSession{Token: row.Token, Refresh: row.Refresh, CSRF: row.Csrf, ExpiresAt: row.ExpiresAt}, nil
}

// UpdateSessionTokens replaces the tokens of the session under idHash (an OIDC refresh).
func (s *SessionStore) UpdateSessionTokens(ctx context.Context, idHash []byte, token, refresh string) error {
	return wrap("update session", s.q.UpdateConsoleSessionTokens(ctx, gen.UpdateConsoleSessionTokensParams{
		IDHash: idHash, Token: token, Refresh: refresh,
	}))
}

// DeleteSession ends the session under idHash; ending one that does not exist is no error.
func (s *SessionStore) DeleteSession(ctx context.Context, idHash []byte) error {
	return wrap("delete session", s.q.DeleteConsoleSession(ctx, idHash))
}

// DeleteExpiredSessions removes expired sessions and says how many.
func (s *SessionStore) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	n, err := s.q.DeleteExpiredConsoleSessions(ctx)
	return n, wrap("delete expired sessions", err)
}
