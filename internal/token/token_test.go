package token

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSignedTokenCarriesItsHolder(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	now := time.Now().Truncate(time.Second)
	raw, err := Sign(secret, Holder{Subject: "cab-icu", Name: "ICU interface", Role: "cabinet", Cabinet: "PYX-ICU-01"}, time.Hour, now)
	require.NoError(t, err)
	var c Claims
	tok, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}))
	require.NoError(t, err)
	require.True(t, tok.Valid)
	assert.Equal(t, "cab-icu", c.Subject)
	assert.Equal(t, "ICU interface", c.Name)
	assert.Equal(t, "cabinet", c.Role)
	assert.Equal(t, "PYX-ICU-01", c.Cabinet)
	assert.Equal(t, now.Add(time.Hour), c.ExpiresAt.Time)

	_, err = jwt.ParseWithClaims(raw, &Claims{}, func(*jwt.Token) (any, error) { return []byte("another secret"), nil })
	assert.Error(t, err, "signed with the secret given, not another")
}

func TestSignRefusesWhatNoTokenMayLack(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	_, err := Sign(nil, Holder{Subject: "n", Role: "nurse"}, time.Hour, time.Now())
	assert.ErrorContains(t, err, "PYXIS_JWT_SECRET")
	_, err = Sign(secret, Holder{Role: "nurse"}, time.Hour, time.Now())
	assert.Error(t, err)
	_, err = Sign(secret, Holder{Subject: "n"}, time.Hour, time.Now())
	assert.Error(t, err)
}
