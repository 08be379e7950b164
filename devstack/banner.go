package devstack

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/api"
	"github.com/medreq/pyxis/db"
)

// banner is what dev mode prints once it is ready.
type banner struct {
	api, ui, temporal, database, dir                   string
	mllp, cabinetSim, cabinetSimAdmin, cabinetSimToken string
	codecSession                                       string
	ephemeral                                          bool
	secret                                             string
	// secretFromEnv is true when PYXIS_JWT_SECRET was set, so not read from dir/jwt-secret.
	secretFromEnv bool
	demo          Demo
}

func printBanner(w io.Writer, b banner) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nPyxis medication requests: dev mode is ready.\n\n")
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	tokens, err := b.tokens(time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(tw, "  API\t%s\n", b.api)
	if b.ui != "" {
		fmt.Fprintf(tw, "  Temporal Web UI\t%s/namespaces/default/workflows\n", b.ui)
		// Next to the UI's address: until it is opened, the UI shows payloads as encrypted
		// and a red "Codec Server could not connect" box (README).
		if pharm, ok := tokens.first(pyxis.RolePharmacist); b.codecSession != "" && ok {
			fmt.Fprintf(tw, "  \tpayloads are encrypted: to read them in the UI, open once (as %s)\n", pharm.user.Name)
			fmt.Fprintf(tw, "  \t%s?token=%s\n", b.codecSession, pharm.token)
		}
	}
	fmt.Fprintf(tw, "  Temporal frontend\t%s\n", b.temporal)
	fmt.Fprintf(tw, "  PostgreSQL\t%s\n", b.database)
	fmt.Fprintf(tw, "  Cabinet reports (MLLP)\t%s\n", b.mllp)
	fmt.Fprintf(tw, "  Simulated cabinet\tMLLP %s, admin %s (demo cabinets point here)\n", b.cabinetSim, b.cabinetSimAdmin)
	fmt.Fprintf(tw, "  Cabinet admin token\tAuthorization: Bearer %s\n", b.cabinetSimToken)
	if b.ephemeral {
		fmt.Fprintf(tw, "  Data\tephemeral: nothing is kept after exit\n")
	} else {
		fmt.Fprintf(tw, "  Data\t%s\n", b.dir)
	}
	_ = tw.Flush()

	fmt.Fprintf(&sb, "\nDemo users (tokens valid 24h; paste the export lines into your shell):\n")
	for _, t := range tokens {
		fmt.Fprintf(&sb, "  # %s, %s\n  export %s=%s\n", t.user.Name, t.user.Role, t.env, t.token)
		if t.user.Role != pyxis.RoleCabinet {
			// Opening it signs this browser in to the console as the user (api: GET /session).
			fmt.Fprintf(&sb, "  # console: %s/session?token=%s\n", b.api, t.token)
		}
	}
	secret := "$(cat " + filepath.Join(b.dir, "jwt-secret") + ")"
	if b.secretFromEnv {
		secret = "<your PYXIS_JWT_SECRET>"
	}
	fmt.Fprintf(&sb, "Another token, signed for this dev stack (role nurse, pharmacist, technician or admin; cabinet with --cabinet CODE):\n")
	fmt.Fprintf(&sb, "  PYXIS_JWT_SECRET=%s go run ./cmd/pyxis token --sub nurse-new --name 'New Nurse' --role nurse\n", secret)
	if nurse, cab, ok := b.sampleNurse(tokens); ok && len(b.demo.Meds) > 0 {
		pharm, _ := tokens.first(pyxis.RolePharmacist)
		fmt.Fprintf(&sb, "\nCreate a request as %s at %s (the cabinet of the nurse's unit), then approve it as %s:\n", nurse.user.Name, cab.Code, pharm.user.Name)
		fmt.Fprintf(&sb, `  REQ=$(curl -s -X POST %s/v1/requests -H "Authorization: Bearer $%s" -H 'Content-Type: application/json' -d '{"cabinet_id": %d, "patient": {"mrn": "MRN-0001", "bed": "12A"}, "priority": "stat", "items": [{"medication_id": %d, "quantity": 2}]}' | grep -o 'medreq-[0-9A-Z]*' | head -1); echo $REQ`+"\n",
			b.api, nurse.env, cab.ID, b.demo.Meds[0].ID)
		fmt.Fprintf(&sb, `  curl -s -X POST %s/v1/requests/$REQ/approve -H "Authorization: Bearer $%s" -H 'Content-Type: application/json' -d '{"note": "ok"}'`+"\n",
			b.api, pharm.env)
		fmt.Fprintf(&sb, "Then follow it: curl -s %s/v1/requests/$REQ -H \"Authorization: Bearer $%s\"\n", b.api, nurse.env)
	}
	fmt.Fprintf(&sb, "\nPress Ctrl-C to stop.\n")
	_, err = io.WriteString(w, sb.String())
	return err
}

// demoToken is a demo user's token as the banner prints it, with the shell variable it goes in.
type demoToken struct {
	user  db.User
	env   string
	token string
}

type demoTokens []demoToken

// first is the first token of role.
func (ts demoTokens) first(role string) (demoToken, bool) {
	for _, t := range ts {
		if t.user.Role == role {
			return t, true
		}
	}
	return demoToken{}, false
}

// tokens signs a 24-hour token for each demo user; a cabinet interface's names its cabinet.
func (b banner) tokens(now time.Time) (demoTokens, error) {
	var ts demoTokens
	for _, u := range b.demo.Users {
		var tok string
		var err error
		if code := demoCabinetCode(u.ID); u.Role == pyxis.RoleCabinet && code != "" {
			tok, err = api.IssueCabinetToken([]byte(b.secret), u.ID, u.Name, code, 24*time.Hour, now)
		} else {
			tok, err = api.IssueToken([]byte(b.secret), u.ID, u.Name, u.Role, 24*time.Hour, now)
		}
		if err != nil {
			return nil, fmt.Errorf("token of %s: %w", u.ID, err)
		}
		ts = append(ts, demoToken{user: u, env: strings.ToUpper(strings.ReplaceAll(u.ID, "-", "_")) + "_TOKEN", token: tok})
	}
	return ts, nil
}

// sampleNurse is the nurse of the sample request and the demo cabinet of her unit: a nurse
// sees, and may request at, the cabinets of her own unit.
func (b banner) sampleNurse(ts demoTokens) (demoToken, pyxis.Cabinet, bool) {
	if _, ok := ts.first(pyxis.RolePharmacist); !ok {
		return demoToken{}, pyxis.Cabinet{}, false
	}
	for _, t := range ts {
		if t.user.Role != pyxis.RoleNurse {
			continue
		}
		for _, c := range b.demo.Cabinets {
			if c.Unit == t.user.Unit {
				return t, c, true
			}
		}
	}
	return demoToken{}, pyxis.Cabinet{}, false
}
