package devstack

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/db/dbtest"
)

// TestDemoNursesWorkOnTheDemoCabinetsUnits keeps dev mode's nurses able to see their
// cabinets' requests.
func TestDemoNursesWorkOnTheDemoCabinetsUnits(t *testing.T) {
	units := map[string]string{}
	for _, c := range demoCabinets {
		units[c.Code] = c.Unit
	}
	nurses := map[string]string{}
	for _, u := range demoUsers {
		if u.Role == pyxis.RoleNurse {
			nurses[u.ID] = u.Unit
		}
	}
	assert.Equal(t, map[string]string{"nurse-ana": units["PYX-ICU-01"], "nurse-caio": units["PYX-3B-01"]}, nurses)
	assert.Equal(t, "Intensive Care Unit", nurses["nurse-ana"])
	assert.Equal(t, "Ward 3B (Medical)", nurses["nurse-caio"])
}

// TestDevBannerPrintsDemoUsersOnly starts from a seeded database whose directory also holds a
// cabinet interface, a user added on first sight and a deactivated demo user: the banner
// still prints, with tokens for the active demo users only.
func TestDevBannerPrintsDemoUsersOnly(t *testing.T) {
	store := db.NewStore(dbtest.NewPool(t))
	ctx := t.Context()
	d, err := Seed(ctx, store)
	require.NoError(t, err)
	require.Len(t, d.Users, len(demoUsers))
	for _, u := range []db.User{
		{ID: "cab-icu", Name: "ICU interface", Role: pyxis.RoleCabinet, Active: true},
		{ID: "someone-else", Name: "Someone", Role: pyxis.RoleNurse, Active: true},
	} {
		_, err := store.CreateUser(ctx, u, pyxis.Actor{ID: "admin-fe", Role: pyxis.RoleAdmin})
		require.NoError(t, err)
	}
	_, err = store.UpdateUser(ctx, "tech-edu", db.UserPatch{Active: ptrTo(false)}, pyxis.Actor{ID: "admin-fe", Role: pyxis.RoleAdmin})
	require.NoError(t, err)

	d, err = Seed(ctx, store)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, printBanner(&out, banner{api: "http://localhost:8080", secret: strings.Repeat("s", 32), demo: d}))
	assert.Contains(t, out.String(), "NURSE_ANA_TOKEN")
	assert.Contains(t, out.String(), "PHARM_DORA_TOKEN")
	for _, absent := range []string{"CAB_ICU_TOKEN", "SOMEONE_ELSE_TOKEN", "TECH_EDU_TOKEN"} {
		assert.NotContains(t, out.String(), absent)
	}
	// One console sign-in link per demo user who is a person (not a cabinet interface), next to
	// the token.
	people := 0
	for _, u := range d.Users {
		if u.Role != pyxis.RoleCabinet {
			people++
		}
	}
	assert.Equal(t, people, strings.Count(out.String(), "# console: http://localhost:8080/session?token=ey"))
}

func ptrTo[T any](v T) *T { return &v }

// TestDevBannerGuidesTheFirstHour prints the banner of a seeded database: the link that lets
// the Web UI decode payloads sits right under its address, every demo cabinet has an
// interface with a token, the banner says how to mint another token, and the sample request
// is made by a nurse at the cabinet of her own unit.
func TestDevBannerGuidesTheFirstHour(t *testing.T) {
	store := db.NewStore(dbtest.NewPool(t))
	d, err := Seed(t.Context(), store)
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, printBanner(&out, banner{
		api: "http://localhost:8080", ui: "http://127.0.0.1:8233", codecSession: "http://127.0.0.1:8080/codec/session",
		dir: "/home/you/pyxis/.pyxis-dev", secret: strings.Repeat("s", 32), demo: d,
	}))
	text := out.String()
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.Contains(l, "Temporal Web UI") {
			require.Greater(t, len(lines), i+2)
			assert.Contains(t, lines[i+1], "open once")
			assert.Contains(t, lines[i+2], "http://127.0.0.1:8080/codec/session?token=")
		}
	}
	assert.Contains(t, text, "PYXIS_JWT_SECRET=$(cat /home/you/pyxis/.pyxis-dev/jwt-secret) go run ./cmd/pyxis token --sub ")

	for _, c := range d.Cabinets {
		env := ""
		for id, code := range demoCabinetUsers {
			if code == c.Code {
				env = strings.ToUpper(strings.ReplaceAll(id, "-", "_")) + "_TOKEN"
			}
		}
		require.NotEmpty(t, env, "no interface for cabinet %s", c.Code)
		assert.Contains(t, text, "export "+env+"=", c.Code)
	}

	var icu pyxis.Cabinet
	for _, c := range d.Cabinets {
		if c.Code == "PYX-ICU-01" {
			icu = c
		}
	}
	assert.Contains(t, text, "Bearer $NURSE_ANA_TOKEN")
	assert.Contains(t, text, fmt.Sprintf(`"cabinet_id": %d,`, icu.ID), "Ana works on the ICU")
}
