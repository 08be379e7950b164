package devstack

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/api"
)

// banner is what dev mode prints once it is ready.
type banner struct {
	api, ui, temporal, database, dir                   string
	mllp, cabinetSim, cabinetSimAdmin, cabinetSimToken string
	codecSession                                       string
	ephemeral                                          bool
	secret                                             string
	demo                                               Demo
}

func printBanner(w io.Writer, b banner) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "\nPyxis medication requests: dev mode is ready.\n\n")
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  API\t%s\n", b.api)
	if b.ui != "" {
		fmt.Fprintf(tw, "  Temporal Web UI\t%s/namespaces/default/workflows\n", b.ui)
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
	now := time.Now()
	var nurse, pharmacist, pharmacistToken, pharmacistName string
	for _, u := range b.demo.Users {
		tok, err := api.IssueToken([]byte(b.secret), u.ID, u.Name, u.Role, 24*time.Hour, now)
		if err != nil {
			return err
		}
		v := strings.ToUpper(strings.ReplaceAll(u.ID, "-", "_")) + "_TOKEN"
		fmt.Fprintf(&sb, "  # %s, %s\n  export %s=%s\n", u.Name, u.Role, v, tok)
		if u.Role == pyxis.RoleNurse && nurse == "" {
			nurse = v
		}
		if u.Role == pyxis.RolePharmacist && pharmacist == "" {
			pharmacist, pharmacistToken, pharmacistName = v, tok, u.Name
		}
	}
	if b.codecSession != "" && pharmacistToken != "" {
		fmt.Fprintf(&sb, "\nPayloads are encrypted in Temporal. To read them in the Web UI, open once (as %s):\n  %s?token=%s\n",
			pharmacistName, b.codecSession, pharmacistToken)
	}
	if nurse != "" && pharmacist != "" && len(b.demo.Cabinets) > 0 && len(b.demo.Meds) > 0 {
		fmt.Fprintf(&sb, "\nCreate a request as the nurse, then approve it as the pharmacist:\n")
		fmt.Fprintf(&sb, `  REQ=$(curl -s -X POST %s/v1/requests -H "Authorization: Bearer $%s" -H 'Content-Type: application/json' -d '{"cabinet_id": %d, "patient": {"mrn": "MRN-0001", "bed": "12A"}, "priority": "stat", "items": [{"medication_id": %d, "quantity": 2}]}' | grep -o 'medreq-[0-9A-Z]*' | head -1); echo $REQ`+"\n",
			b.api, nurse, b.demo.Cabinets[0].ID, b.demo.Meds[0].ID)
		fmt.Fprintf(&sb, `  curl -s -X POST %s/v1/requests/$REQ/approve -H "Authorization: Bearer $%s" -H 'Content-Type: application/json' -d '{"note": "ok"}'`+"\n",
			b.api, pharmacist)
		fmt.Fprintf(&sb, "Then follow it: curl -s %s/v1/requests/$REQ -H \"Authorization: Bearer $%s\"\n", b.api, nurse)
	}
	fmt.Fprintf(&sb, "\nPress Ctrl-C to stop.\n")
	_, err := io.WriteString(w, sb.String())
	return err
}
