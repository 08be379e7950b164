package cabsim

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/medreq/pyxis/cabinet/hl7"
)

// ParseFlags reads the flags of `pyxis-dev cabinet-sim` into a Config for Run, and the admin
// token from PYXIS_SIM_ADMIN_TOKEN (an environment variable, not a flag, so it stays out of
// the process list).
func ParseFlags(args []string) (Config, error) {
	fs := flag.NewFlagSet("cabinet-sim", flag.ContinueOnError)
	cfg := Config{AdminToken: os.Getenv("PYXIS_SIM_ADMIN_TOKEN")}
	var faults []string
	withdraw := fs.String("withdraw-after", "3s", "how long after an authorization the simulated nurse withdraws; off: only through POST /withdraw")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:2576", "MLLP address for orders (RDE^O11) and item master updates (MFN^M01)")
	fs.StringVar(&cfg.ReportTo, "report-to", "127.0.0.1:2575", "the system's MLLP listener, for withdrawal and pocket reports")
	fs.StringVar(&cfg.Admin, "admin", "127.0.0.1:2577", "admin HTTP address (/faults, /stats, /items, /withdraw, /event); empty: none")
	fs.StringVar(&cfg.StockFile, "stock", "", "JSON file of pockets and quantities; orders beyond a pocket are refused AE")
	fs.StringVar(&cfg.StateFile, "state", "", "file the simulator keeps its held orders, stock, item master, stats and unacknowledged reports in, to carry on after a restart; empty: memory only")
	fs.StringVar(&cfg.ReportFormat, "report-format", FormatRDS, "withdrawal report shape: rds (RDS^O13) or pade (OMS^O05 with ZPM)")
	fs.StringVar(&cfg.ProcessingID, "processing-id", hl7.ProcessingProduction, "MSH-11 of the reports sent and of the messages taken: P, T or D")
	fs.Func("fault", "fault from the start: offline, slow=DUR, reject, busy, drop, duplicate (repeatable)", func(v string) error {
		faults = append(faults, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	cfg.Faults = faults
	if *withdraw != "off" {
		d, err := time.ParseDuration(*withdraw)
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("--withdraw-after %q: want a duration such as 3s, or off", *withdraw)
		}
		cfg.WithdrawAfter = d
	}
	return cfg, nil
}
