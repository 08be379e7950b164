package check

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// SimulatorAuthorizations reads how many times a simulated cabinet applied each
// authorization, from its admin endpoint (GET /orders): the Authorizations of a check of a
// system whose cabinets are simulated (pyxis check --cabinet-sim URL), with the simulator's
// admin token (PYXIS_SIM_ADMIN_TOKEN).
func SimulatorAuthorizations(adminURL, token string) func(context.Context) (map[string]int, error) {
	return func(ctx context.Context) (map[string]int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminURL+"/orders", nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s/orders: %s", adminURL, resp.Status)
		}
		var orders []struct {
			RequestID string `json:"request_id"`
			Applied   int    `json:"applied"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&orders); err != nil {
			return nil, err
		}
		out := make(map[string]int, len(orders))
		for _, o := range orders {
			out[o.RequestID] = o.Applied
		}
		return out, nil
	}
}
