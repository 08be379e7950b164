package faultsuite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medreq/pyxis/api"
)

// loadClient calls the API as the load's people do, and retries what a fault may have cut: no
// answer, 5xx, 429. A POST that creates carries its Idempotency-Key on every try, so a retry
// finds the request an earlier try made.
type loadClient struct {
	base   string
	secret []byte
	bound  time.Duration
	hc     *http.Client

	mu      sync.Mutex
	tokens  map[string]string
	answers map[int]int
	errors  int

	inflight atomic.Int64
}

func newLoadClient(base string, secret []byte, bound time.Duration) *loadClient {
	return &loadClient{
		base: base, secret: secret, bound: bound, tokens: map[string]string{}, answers: map[int]int{},
		hc: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	}
}

func (c *loadClient) close() { c.hc.CloseIdleConnections() }

func (c *loadClient) token(sub, role string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.tokens[sub]; ok {
		return t, nil
	}
	t, err := api.IssueToken(c.secret, sub, sub, role, 12*time.Hour, time.Now())
	if err != nil {
		return "", err
	}
	c.tokens[sub] = t
	return t, nil
}

func (c *loadClient) counts() (map[int]int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[int]int, len(c.answers))
	for k, v := range c.answers {
		out[k] = v
	}
	return out, c.errors
}

// result is a call's last answer.
type result struct {
	status int
	code   string
	err    error
	tries  int
	// ids are the request ids the answers named (a POST /v1/requests).
	ids []string
	// cut says a try got no answer; replayed that the last answer was a replay of an earlier
	// try (Idempotent-Replayed): with cut, a POST the API had accepted when it was cut off.
	cut, replayed bool
}

func (r result) ok() bool { return r.err == nil && r.status >= 200 && r.status < 300 }

func (r result) String() string {
	if r.err != nil {
		return fmt.Sprintf("no answer after %d tries: %v", r.tries, r.err)
	}
	return fmt.Sprintf("%d %s after %d tries", r.status, r.code, r.tries)
}

// call sends the request until an answer that is not worth retrying, or the bound passes.
func (c *loadClient) call(ctx context.Context, sub, role, method, path, idemKey string, body, out any) result {
	raw, err := json.Marshal(body)
	if err != nil {
		return result{err: err}
	}
	tok, err := c.token(sub, role)
	if err != nil {
		return result{err: err}
	}
	deadline := time.Now().Add(c.bound)
	wait := 100 * time.Millisecond
	var res result
	for {
		res.tries++
		var retryAfter time.Duration
		res.status, res.code, retryAfter, res.err = c.once(ctx, method, path, tok, idemKey, raw, out, &res.ids, &res.replayed)
		res.cut = res.cut || res.err != nil
		c.mu.Lock()
		if res.err != nil {
			c.errors++
		} else {
			c.answers[res.status]++
		}
		c.mu.Unlock()
		retry := res.err != nil || res.status >= 500 || res.status == http.StatusTooManyRequests
		if !retry || time.Now().After(deadline) || ctx.Err() != nil {
			return res
		}
		d := max(wait, retryAfter)
		if retryAfter > 2*time.Second {
			d = 2 * time.Second // a fault scenario heals in seconds
		}
		if !sleep(ctx, d) {
			return res
		}
		wait = min(2*wait, time.Second)
	}
}

func (c *loadClient) once(ctx context.Context, method, path, tok, idemKey string, raw []byte, out any, ids *[]string, replayed *bool) (int, string, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(raw))
	if err != nil {
		return 0, "", 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	if method == http.MethodPost {
		c.inflight.Add(1)
		defer c.inflight.Add(-1)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, "", 0, err
	}
	defer resp.Body.Close()
	*replayed = resp.Header.Get("Idempotent-Replayed") == "true"
	var retryAfter time.Duration
	if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		retryAfter = time.Duration(n) * time.Second
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error api.ErrorDetail `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error.Code, retryAfter, nil
	}
	var m json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		// The answer was cut: no answer, for the retry.
		return 0, "", 0, fmt.Errorf("read answer: %w", err)
	}
	var withID struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(m, &withID) == nil && withID.ID != "" && idemKey != "" {
		*ids = append(*ids, withID.ID)
	}
	if out != nil {
		if err := json.Unmarshal(m, out); err != nil {
			return resp.StatusCode, "", 0, err
		}
	}
	return resp.StatusCode, "", 0, nil
}
