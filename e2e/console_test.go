package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/medreq/pyxis"
)

// The web console in a real browser: headless Chromium driven over the DevTools protocol
// (chromedp), against the real API, Postgres, Temporal and worker of this package. Each user
// has a browser context of their own (their own cookies), as two people at two screens.

// browserPath finds Chromium. Without one the test skips on a developer's machine, and fails
// in CI (CI set), where .ci/run installs it: a missing browser must not pass unseen.
func browserPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium found: the console's browser tests cannot run (install the Debian package chromium; .ci/run does)")
	}
	t.Skip("no Chromium found (apt-get install chromium); in CI this fails")
	return ""
}

// consoleBrowser is one headless Chromium; each user opens a context of their own in it.
type consoleBrowser struct {
	t    *testing.T
	url  string
	root context.Context
	// messages are the errors and warnings the pages wrote to the browser console.
	messages *consoleMessages
}

type consoleMessages struct {
	mu   sync.Mutex
	list []string
}

// with returns the browser for a subtest: failures fail t.
func (b *consoleBrowser) with(t *testing.T) *consoleBrowser {
	c := *b
	c.t = t
	return &c
}

func newConsoleBrowser(t *testing.T, url string) *consoleBrowser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browserPath(t)),
		chromedp.NoSandbox, chromedp.WindowSize(1280, 800), chromedp.Flag("disable-dev-shm-usage", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	root, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	// Start the browser with the root context, which lives as long as the test.
	_, err := chromedp.Run(root, chromedp.Evaluate[int]("1"))
	require.NoError(t, err)
	b := &consoleBrowser{t: t, url: url, root: root, messages: &consoleMessages{}}
	t.Cleanup(func() {
		b.messages.mu.Lock()
		defer b.messages.mu.Unlock()
		assert.Empty(t, b.messages.list, "the console's pages wrote errors or warnings to the browser console")
	})
	return b
}

// user opens a browser context signed in with token (GET /session?token=), with the
// browser's preferred language acceptLanguage ("" for the default, English).
func (b *consoleBrowser) user(token, acceptLanguage string) context.Context {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.root, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				b.messages.mu.Lock()
				b.messages.list = append(b.messages.list, m.String())
				b.messages.mu.Unlock()
			}
		}
	}()
	if acceptLanguage != "" {
		_, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64) pyxis-e2e", AcceptLanguage: acceptLanguage,
		})
		require.NoError(b.t, err)
	}
	b.do(ctx, chromedp.Navigate(b.url+"/session?token="+token))
	b.do(ctx, chromedp.WaitVisible(chromedp.CSS("main h1")))
	b.eventually(ctx, `document.querySelector("main table, main p:not(#loading), main form") !== null`, "the first page shows")
	// From the start of the navigation (the sign-in redirect included) to the page showing
	// its data.
	ms := eval[float64](b, ctx, `performance.now()`)
	b.t.Logf("first load: %.0f ms", ms)
	if os.Getenv("PYXIS_LATENCY_CHECK") == "1" {
		assert.Less(b.t, ms, 1000.0, "first load under 1 s")
	}
	return ctx
}

// do runs actions one by one, each with a deadline.
func (b *consoleBrowser) do(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	for i, step := range steps {
		tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		_, err := chromedp.Run(tctx, step)
		cancel()
		require.NoError(b.t, err, "step %d", i)
	}
}

// eval evaluates a script in the page.
func eval[T any](b *consoleBrowser, ctx context.Context, script string) T {
	b.t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](script))
	require.NoError(b.t, err, script)
	return v
}

// eventually waits until the script is true in the page, at most 10 s (the live views must
// be much faster: see within).
func (b *consoleBrowser) eventually(ctx context.Context, script, msg string) {
	b.t.Helper()
	b.within(ctx, 10*time.Second, script, msg)
}

// within waits until the script is true, at most d.
func (b *consoleBrowser) within(ctx context.Context, d time.Duration, script, msg string) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(tctx, chromedp.Evaluate[bool](script))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s (within %s): %s (last error: %v)", msg, d, script, err)
		}
		//nolint:forbidigo // polling the page; there is no event to wait on
		<-time.After(50 * time.Millisecond)
	}
}

// named counts the nodes of the page's accessibility tree with this role and accessible name,
// as a screen reader finds them.
func (b *consoleBrowser) named(ctx context.Context, role, name string) int {
	b.t.Helper()
	// The document as a script object: DOM.getDocument would reset the node ids that
	// chromedp's queries keep.
	doc, err := chromedp.Run(ctx, chromedp.Evaluate[*runtime.RemoteObject]("document"))
	require.NoError(b.t, err)
	res, err := chromedp.Call(ctx, accessibility.QueryAXTree, accessibility.QueryAXTreeParams{
		ObjectID: doc.ObjectID, AccessibleName: name, Role: role,
	})
	_, _ = chromedp.Call(ctx, runtime.ReleaseObject, runtime.ReleaseObjectParams{ObjectID: doc.ObjectID})
	require.NoError(b.t, err)
	n := 0
	for _, node := range res.Nodes {
		if !node.Ignored {
			n++
		}
	}
	return n
}

// js quotes a Go string for a script.
func js(s string) string { return fmt.Sprintf("%q", s) }

// rowOf is a script for the table row that shows the patient with this MRN.
func rowOf(mrn string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("tbody tr")].find((r) => r.textContent.includes(%s))`, js(mrn))
}

// clickIn clicks the button named name in the row of mrn.
func (b *consoleBrowser) clickIn(ctx context.Context, mrn, name string) {
	b.t.Helper()
	ok := eval[bool](b, ctx, fmt.Sprintf(`(() => { const r = %s; const btn = r && [...r.querySelectorAll("button")].find((x) => x.textContent === %s); if (!btn) return false; btn.click(); return true; })()`, rowOf(mrn), js(name)))
	require.True(b.t, ok, "no button %q in the row of %s", name, mrn)
}

// mark puts a value in the page's window that a reload would lose.
func (b *consoleBrowser) mark(ctx context.Context) {
	eval[bool](b, ctx, `(window.__notReloaded = true)`)
}

func (b *consoleBrowser) requireNotReloaded(ctx context.Context) {
	b.t.Helper()
	require.True(b.t, eval[bool](b, ctx, `window.__notReloaded === true`), "the page was reloaded")
}

// screenshot saves the page under docs/console when PYXIS_CONSOLE_SCREENSHOTS=1.
func (b *consoleBrowser) screenshot(ctx context.Context, name string) {
	b.t.Helper()
	if os.Getenv("PYXIS_CONSOLE_SCREENSHOTS") != "1" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	require.NoError(b.t, os.WriteFile(filepath.Join("..", "docs", "console", name+".png"), png, 0o644))
}

// axeSource is axe-core, vendored under testdata (its README says from where).
var axeSource = sync.OnceValues(func() (string, error) {
	raw, err := os.ReadFile(filepath.Join("testdata", "axe-core", "axe.min.js"))
	return string(raw), err
})

// axeViolation is what the test reports of a violation axe-core finds.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// requireAccessible runs axe-core on the page as it is and fails on any serious or critical
// violation.
func (b *consoleBrowser) requireAccessible(ctx context.Context, page string) {
	b.t.Helper()
	src, err := axeSource()
	require.NoError(b.t, err)
	if !eval[bool](b, ctx, `typeof window.axe === "object"`) {
		// DevTools evaluation is not subject to the page's CSP, as an extension's would not be.
		eval[bool](b, ctx, src+";true")
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	found, err := chromedp.Run(tctx, chromedp.Evaluate[[]axeViolation](
		`axe.run(document, {resultTypes: ["violations"]}).then((r) => r.violations.filter((v) => v.impact === "serious" || v.impact === "critical"))`,
		chromedp.EvalAwaitPromise))
	require.NoError(b.t, err)
	for _, v := range found {
		b.t.Errorf("axe-core on %s: %s (%s) %s at %v", page, v.ID, v.Impact, v.Help, v.Nodes)
	}
}

// requireFits checks that the page needs no horizontal scrolling at the current viewport.
func (b *consoleBrowser) requireFits(ctx context.Context, page string) {
	b.t.Helper()
	over := eval[int](b, ctx, `document.documentElement.scrollWidth - window.innerWidth`)
	assert.LessOrEqual(b.t, over, 0, "%s scrolls sideways by %dpx", page, over)
}

// consoleAPI is an API server with the console as dev mode serves it: token sign-in (the
// live feed from the projection's notifications comes with every server that has a store).
func consoleAPI(t *testing.T) *apiClient {
	t.Helper()
	cfg := testConfig()
	cfg.ConsoleTokenSignIn = true
	return newAPI(t, cfg)
}

// directoryUser puts a user on a unit in the users directory; a pharmacist with a
// professional registration of her own, so that she counts towards two approvals.
func (c *apiClient) directoryUser(id, name, role, unit string) {
	c.t.Helper()
	user := map[string]any{"id": id, "name": name, "role": role, "unit": unit}
	if role == pyxis.RolePharmacist {
		user["registration"] = "CRF-T " + id
	}
	status, body := c.do("POST", "/v1/users", c.token("admin-1", pyxis.RoleAdmin), user)
	require.Equal(c.t, http.StatusCreated, status, body)
}

func TestConsoleInABrowser(t *testing.T) {
	c := consoleAPI(t)
	f := c.fixture(20, 20)
	morphine := c.controlledMedication(f, "A1", 5)
	c.directoryUser("nurse-ui", "Ana Souza", pyxis.RoleNurse, "Test unit")
	c.directoryUser("nurse-far", "Bia Lima", pyxis.RoleNurse, "Far unit")
	c.directoryUser("pharm-ui-1", "Paulo Reis", pyxis.RolePharmacist, "")
	c.directoryUser("pharm-ui-2", "Rita Melo", pyxis.RolePharmacist, "")
	nurseTok, farTok := c.token("nurse-ui", pyxis.RoleNurse), c.token("nurse-far", pyxis.RoleNurse)
	p1Tok, p2Tok := c.token("pharm-ui-1", pyxis.RolePharmacist), c.token("pharm-ui-2", pyxis.RolePharmacist)
	b := newConsoleBrowser(t, c.url)

	pharmacist := b.user(p1Tok, "")
	nurse := b.user(nurseTok, "")
	b.eventually(nurse, `document.querySelector("form.request #med-0") !== null`, "the nurse's form is built")
	require.Equal(t, 1, b.named(pharmacist, "heading", "Approval queue"), "the pharmacist's page is the queue")
	for _, role := range []struct{ role, name string }{{"form", "New request"}, {"textbox", "Patient MRN"}, {"textbox", "Bed"},
		{"textbox", "Family name"}, {"textbox", "Given name"}, {"combobox", "Cabinet"}, {"combobox", "Medication"},
		{"spinbutton", "Quantity"}, {"combobox", "Priority"}, {"button", "Add line"}, {"button", "Submit request"},
		{"button", "Sign out"}} {
		assert.Equal(t, 1, b.named(nurse, role.role, role.name), "%s %q", role.role, role.name)
	}
	b.mark(pharmacist)
	b.mark(nurse)

	t.Run("nurse creates a two-line request and sees it awaiting approval", func(t *testing.T) {
		b := b.with(t)
		mrn := "MRN-UI-1"
		b.do(nurse,
			chromedp.SendKeys(chromedp.ID("f-mrn"), mrn),
			chromedp.SendKeys(chromedp.ID("f-bed"), "7B"),
			chromedp.SendKeys(chromedp.ID("f-family"), "Oliveira"),
			chromedp.SendKeys(chromedp.ID("f-given"), "João"),
			chromedp.SetValue(chromedp.ID("f-cabinet"), fmt.Sprint(f.cabinetID)),
			chromedp.SetValue(chromedp.ID("f-priority"), "stat"),
			chromedp.SendKeys(chromedp.ID("med-0"), "Medication 0 ("+f.cabinetCode+"-M0)"),
			chromedp.SetValue(chromedp.ID("qty-0"), "2"),
			chromedp.Click(chromedp.ID("add-line")),
			chromedp.WaitVisible(chromedp.ID("med-1")),
			chromedp.SendKeys(chromedp.ID("med-1"), "Medication 1 ("+f.cabinetCode+"-M1)"),
			chromedp.Click(chromedp.CSS(`form.request button[type="submit"]`)),
		)
		// The pharmacist's queue shows it within 2 s of the workflow's reserving the stock (the
		// projection's write): measured from the click, which also includes that step.
		submitted := time.Now()
		b.within(pharmacist, 3*time.Second, rowOf(mrn)+" !== undefined", "the request arrives in the pharmacist's queue")
		t.Logf("from Submit request to the row in the pharmacist's queue: %s", time.Since(submitted).Round(time.Millisecond))
		b.eventually(nurse, rowOf(mrn)+`?.querySelector(".req-status")?.dataset.status === "awaiting_approval"`, "the nurse's row awaits approval")
		assert.Contains(t, eval[string](b, nurse, rowOf(mrn)+".textContent"), "awaiting approval")
		assert.Contains(t, eval[string](b, nurse, rowOf(mrn)+".textContent"), "2 × Medication 0; 1 × Medication 1")
		assert.Equal(t, 1, b.named(nurse, "table", "My requests"))
		b.screenshot(nurse, "nurse")
	})

	t.Run("the pharmacist sees it arrive, approves with the keyboard, and it leaves", func(t *testing.T) {
		b := b.with(t)
		mrn := "MRN-UI-1"
		b.within(pharmacist, 2*time.Second+time.Second, rowOf(mrn)+" !== undefined", "the request arrives in the queue without a reload")
		b.requireNotReloaded(pharmacist)
		row := eval[string](b, pharmacist, rowOf(mrn)+".textContent")
		assert.Contains(t, row, "STAT")
		assert.Contains(t, row, "Oliveira, João")
		assert.Contains(t, row, "bed 7B")
		assert.Contains(t, row, "2 × Medication 0; 1 × Medication 1")
		assert.Equal(t, 1, b.named(pharmacist, "table", "Approval queue"))
		b.screenshot(pharmacist, "queue")
		// From the keyboard alone: focus the queue's first row, move down to the request, approve.
		b.do(pharmacist, chromedp.Focus(chromedp.CSS("tbody tr")))
		for i := 0; i < 60 && !eval[bool](b, pharmacist, `document.querySelector("tr.selected")?.textContent.includes(`+js(mrn)+`)`); i++ {
			b.do(pharmacist, chromedp.KeyEvent("j"))
		}
		require.True(t, eval[bool](b, pharmacist, `document.activeElement.textContent.includes(`+js(mrn)+`)`), "j moved the focus to the request")
		b.do(pharmacist, chromedp.KeyEvent("a"))
		b.within(pharmacist, 3*time.Second, rowOf(mrn)+" === undefined", "the approved request leaves the queue")
		b.requireNotReloaded(pharmacist)
	})

	t.Run("the nurse's row reaches dispensed without a reload", func(t *testing.T) {
		b := b.with(t)
		mrn := "MRN-UI-1"
		b.eventually(nurse, rowOf(mrn)+`?.querySelector(".req-status")?.dataset.status === "ready_at_cabinet"`, "at the cabinet")
		assert.Contains(t, eval[string](b, nurse, rowOf(mrn)+".textContent"), "at the cabinet")
		id := eval[string](b, nurse, rowOf(mrn)+".dataset.id")
		status, body := c.do("POST", fmt.Sprintf("/v1/cabinets/%d/events", f.cabinetID), nurseTok,
			map[string]any{"type": "withdrawn", "request_id": id})
		require.Equal(t, http.StatusAccepted, status, body)
		b.within(nurse, 3*time.Second, rowOf(mrn)+`?.querySelector(".req-status")?.dataset.status === "dispensed"`, "dispensed, live")
		assert.Contains(t, eval[string](b, nurse, rowOf(mrn)+".textContent"), "dispensed")
		b.requireNotReloaded(nurse)
	})

	t.Run("a controlled request needs two pharmacists", func(t *testing.T) {
		b := b.with(t)
		mrn := "MRN-UI-CTL"
		status, body := c.do("POST", "/v1/requests", nurseTok, map[string]any{
			"cabinet_id": f.cabinetID, "patient": map[string]any{"mrn": mrn, "bed": "9"}, "priority": "urgent",
			"items": []map[string]any{{"medication_id": morphine, "quantity": 1}},
		})
		require.Equal(t, http.StatusCreated, status, body)
		b.eventually(pharmacist, rowOf(mrn)+" !== undefined", "the controlled request arrives")
		assert.Contains(t, eval[string](b, pharmacist, rowOf(mrn)+".textContent"), "0 of 2 approvals")
		b.clickIn(pharmacist, mrn, "Approve")
		b.eventually(pharmacist, rowOf(mrn)+`?.textContent.includes("1 of 2 approvals")`, "one approval recorded")
		row := eval[string](b, pharmacist, rowOf(mrn)+".textContent")
		assert.Contains(t, row, "first by Paulo Reis")
		assert.NotContains(t, row, "Approve", "the same pharmacist is not offered a second approval")

		second := b.user(p2Tok, "")
		b.eventually(second, rowOf(mrn)+`?.textContent.includes("1 of 2 approvals")`, "the second pharmacist sees the first approval")
		b.clickIn(second, mrn, "Approve")
		b.eventually(second, rowOf(mrn)+" === undefined", "approved twice, it leaves the queue")
		b.eventually(pharmacist, rowOf(mrn)+" === undefined", "and leaves the first pharmacist's queue, live")
	})

	t.Run("reject with a reason", func(t *testing.T) {
		b := b.with(t)
		mrn := "MRN-UI-REJ"
		status, body := c.do("POST", "/v1/requests", nurseTok, map[string]any{
			"cabinet_id": f.cabinetID, "patient": map[string]any{"mrn": mrn}, "priority": "routine",
			"items": []map[string]any{{"medication_id": f.meds[1], "quantity": 1}},
		})
		require.Equal(t, http.StatusCreated, status, body)
		rid := body["id"].(string)
		b.eventually(pharmacist, rowOf(mrn)+" !== undefined", "the request arrives")
		b.clickIn(pharmacist, mrn, "Reject")
		assert.Equal(t, 1, b.named(pharmacist, "textbox", "Reason"))
		assert.Equal(t, 1, b.named(pharmacist, "button", "Confirm reject"))
		b.do(pharmacist, chromedp.SendKeys(chromedp.CSS(`input[id^="reason-"]`), "duplicate order"))
		b.clickIn(pharmacist, mrn, "Confirm reject")
		b.eventually(pharmacist, rowOf(mrn)+" === undefined", "the rejected request leaves the queue")
		st := c.waitStatus(rid, nurseTok, "rejected")
		require.NotNil(t, st.Reason)
		assert.Equal(t, "duplicate order", *st.Reason)
		b.eventually(nurse, rowOf(mrn)+`?.textContent.includes("duplicate order")`, "the nurse sees the reason in words")
		b.do(pharmacist, chromedp.KeyEvent("?"))
		assert.Equal(t, 1, b.named(pharmacist, "dialog", "Keyboard shortcuts"))
		b.do(pharmacist, chromedp.KeyEvent("\x1b"))
	})

	t.Run("the nurse cancels her own open request", func(t *testing.T) {
		b := b.with(t)
		mrn := "MRN-UI-CAN"
		status, body := c.do("POST", "/v1/requests", nurseTok, map[string]any{
			"cabinet_id": f.cabinetID, "patient": map[string]any{"mrn": mrn}, "priority": "routine",
			"items": []map[string]any{{"medication_id": f.meds[0], "quantity": 1}},
		})
		require.Equal(t, http.StatusCreated, status, body)
		b.eventually(nurse, rowOf(mrn)+`?.querySelector(".req-status")?.dataset.status === "awaiting_approval"`, "her request awaits approval")
		b.clickIn(nurse, mrn, "Cancel")
		b.eventually(nurse, rowOf(mrn)+`?.querySelector(".req-status")?.dataset.status === "cancelled"`, "cancelled")
		assert.Zero(t, eval[int](b, nurse, rowOf(mrn)+`.querySelectorAll("button").length`), "nothing more to cancel")
		c.waitStatus(body["id"].(string), nurseTok, "cancelled")
	})

	t.Run("a nurse of another unit does not see the request", func(t *testing.T) {
		b := b.with(t)
		far := b.user(farTok, "")
		b.eventually(far, `document.querySelector("#mine-h") !== null && document.querySelector("#mine-h").parentElement.querySelector("table, p") !== null`, "her list loaded")
		assert.NotContains(t, eval[string](b, far, `document.querySelector("main").textContent`), "MRN-UI-1")
	})

	t.Run("a STAT past its deadline is marked", func(t *testing.T) {
		b := b.with(t)
		// A row of the projection as a STAT request looks once its deadline has passed and
		// before its workflow has expired it.
		id := "medreq-OVERDUE" + fmt.Sprint(time.Now().UnixNano())
		ctx := t.Context()
		_, err := e2e.pool.Exec(ctx, `INSERT INTO medication_requests (id, requester_id, patient_mrn, cabinet_id, priority, status, seq,
			created_at, updated_at, approval_deadline, has_transitions)
			VALUES ($1, 'nurse-ui', 'MRN-UI-LATE', $2, 'stat', 'awaiting_approval', 2, now() - interval '20 minutes', now(), now() - interval '5 minutes', true)`,
			id, f.cabinetID)
		require.NoError(t, err)
		t.Cleanup(func() {
			_, err := e2e.pool.Exec(context.Background(), `DELETE FROM medication_requests WHERE id = $1`, id)
			assert.NoError(t, err)
		})
		b.eventually(pharmacist, rowOf("MRN-UI-LATE")+`?.textContent.includes("Past deadline")`, "the overdue STAT is marked")
		assert.True(t, eval[bool](b, pharmacist, rowOf("MRN-UI-LATE")+`.classList.contains("overdue")`))
		assert.Regexp(t, `^2\d:\d\d$`, eval[string](b, pharmacist, rowOf("MRN-UI-LATE")+`.querySelector("[data-since]").textContent`), "waited about 20 minutes")
		// As its workflow would record it expiring: the queue drops it, live.
		_, err = e2e.pool.Exec(ctx, `UPDATE medication_requests SET status = 'expired', seq = 3 WHERE id = $1`, id)
		require.NoError(t, err)
		b.eventually(pharmacist, rowOf("MRN-UI-LATE")+" === undefined", "expired, it leaves the queue")
	})

	t.Run("pt-BR", func(t *testing.T) {
		b := b.with(t)
		pt := b.user(p2Tok, "pt-BR,pt;q=0.9")
		mrn := "MRN-UI-PT"
		status, body := c.do("POST", "/v1/requests", nurseTok, map[string]any{
			"cabinet_id": f.cabinetID, "patient": map[string]any{"mrn": mrn}, "priority": "stat",
			"items": []map[string]any{{"medication_id": f.meds[0], "quantity": 1}},
		})
		require.Equal(t, http.StatusCreated, status, body)
		b.eventually(pt, rowOf(mrn)+" !== undefined", "the request arrives")
		assert.Equal(t, "pt-BR", eval[string](b, pt, "document.documentElement.lang"))
		assert.Equal(t, 1, b.named(pt, "table", "Fila de aprovação"))
		assert.Positive(t, b.named(pt, "button", "Aprovar"))
		assert.Positive(t, b.named(pt, "button", "Rejeitar"))
		b.screenshot(pt, "queue-pt-BR")
		// The switch on the page.
		b.do(pt, chromedp.SetValue(chromedp.ID("lang"), "en"))
		b.eventually(pt, `document.querySelector("caption")?.textContent === "Approval queue"`, "switched to English")
		assert.Equal(t, 1, b.named(pt, "table", "Approval queue"))
	})

	t.Run("technician, pharmacist and admin pages: a count mismatch resolved, a refill confirmed, a user added, report sources set", func(t *testing.T) {
		b := b.with(t)
		tech := b.user(c.token("tech-ui", pyxis.RoleTechnician), "")
		eval[bool](b, tech, `(location.hash = "stock", true)`)
		row := fmt.Sprintf(`[...document.querySelectorAll("tbody tr")].find((r) => r.textContent.includes(%s) && r.textContent.includes("Medication 1"))`, js(f.cabinetCode))
		b.eventually(tech, row+" !== undefined", "the pocket is listed")
		onHand := eval[int](b, tech, row+`.querySelectorAll("td")[2].textContent * 1`)
		eval[bool](b, tech, `(() => { const r = `+row+`; r.querySelector('input[id^="sc-"]').value = "`+fmt.Sprint(onHand-1)+`"; [...r.querySelectorAll("button")].find((x) => x.textContent === "Record count").click(); return true; })()`)
		// The count is recorded through the API; the discrepancies page reads it when opened.
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			status, body := c.do("GET", fmt.Sprintf("/v1/discrepancies?status=open&cabinet_id=%d", f.cabinetID), p1Tok, nil)
			if assert.Equal(ct, http.StatusOK, status) {
				assert.NotEmpty(ct, body["data"])
			}
		}, 10*time.Second, 100*time.Millisecond)
		eval[bool](b, pharmacist, `(location.hash = "discrepancies", true)`)
		dis := fmt.Sprintf(`[...document.querySelectorAll("tbody tr")].find((r) => r.textContent.includes(%s))`, js(f.cabinetCode))
		b.eventually(pharmacist, dis+" !== undefined", "the count mismatch waits for a pharmacist")
		eval[bool](b, pharmacist, `(() => { const r = `+dis+`; r.querySelector('input[id^="dr-"]').value = "recounted: one vial broken"; r.querySelector('input[id^="dc-"]').value = "`+fmt.Sprint(onHand-1)+`"; [...r.querySelectorAll("button")].find((x) => x.textContent === "Resolve").click(); return true; })()`)
		b.eventually(pharmacist, dis+" === undefined", "resolved, it leaves the list")
		b.eventually(tech, `(location.hash = "refills", location.hash = "stock", true)`, "back to the stock")
		b.eventually(tech, row+`?.querySelectorAll("td")[2].textContent === "`+fmt.Sprint(onHand-1)+`"`, "on hand is the counted level")
		eval[bool](b, pharmacist, `(location.hash = "queue", true)`)

		// The dispense of the first request left Medication 0 below its par level: a refill
		// waits, and the technician confirms it.
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			status, body := c.do("GET", fmt.Sprintf("/v1/refills?status=open&cabinet_id=%d", f.cabinetID), c.token("tech-ui", pyxis.RoleTechnician), nil)
			if assert.Equal(ct, http.StatusOK, status) {
				assert.Contains(ct, fmt.Sprint(body["data"]), "Medication 0")
			}
		}, 15*time.Second, 100*time.Millisecond, "a refill of Medication 0 opens")
		eval[bool](b, tech, `(location.hash = "refills", true)`)
		refill := fmt.Sprintf(`(document.querySelector("main caption")?.textContent === "Refills" ? [...document.querySelectorAll("tbody tr")].find((r) => r.textContent.includes(%s) && r.textContent.includes("Medication 0")) : undefined)`, js(f.cabinetCode))
		b.eventually(tech, refill+` !== undefined`, "the refill is listed")
		eval[bool](b, tech, `(() => { const r = `+refill+`; [...r.querySelectorAll("button")].find((x) => x.textContent === "Confirm refill").click(); return true; })()`)
		b.eventually(tech, `document.querySelector("main caption")?.textContent === "Refills" || document.querySelector("main p")?.textContent === "No refill to confirm."`, "the refills page")
		b.eventually(tech, `document.getElementById('status').textContent === 'Done.'`, "the confirmation is taken")
		// The refill's workflow closes the task: once it has, the list read again lacks it.
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			status, body := c.do("GET", fmt.Sprintf("/v1/refills?status=open&cabinet_id=%d", f.cabinetID), c.token("tech-ui", pyxis.RoleTechnician), nil)
			if assert.Equal(ct, http.StatusOK, status) {
				assert.NotContains(ct, fmt.Sprint(body["data"]), "Medication 0")
			}
		}, 15*time.Second, 100*time.Millisecond, "the refill of Medication 0 is done")
		eval[bool](b, tech, `(location.hash = "stock", true)`)
		b.eventually(tech, `document.querySelector("main h1")?.textContent === "Counts and loads"`, "away")
		eval[bool](b, tech, `(location.hash = "refills", true)`)
		b.eventually(tech, `document.querySelector("main h1")?.textContent === "Refills" && document.querySelector("main table, main p") !== null && `+refill+" === undefined", "confirmed, the refill is no longer listed")

		admin := b.user(c.token("admin-1", pyxis.RoleAdmin), "")
		eval[bool](b, admin, `(location.hash = "users", true)`)
		b.eventually(admin, `document.querySelector("#u-id") !== null`, "the users page")
		b.do(admin, chromedp.SendKeys(chromedp.ID("u-id"), "nurse-new"), chromedp.SendKeys(chromedp.ID("u-name"), "Nova Enfermeira"),
			chromedp.SetValue(chromedp.ID("u-role"), "nurse"), chromedp.SendKeys(chromedp.ID("u-unit"), "Test unit"))
		b.do(admin, chromedp.Click(chromedp.CSS(`form.request button[type="submit"]`)))
		b.eventually(admin, rowOf("Nova Enfermeira")+" !== undefined", "the new user is listed")

		// The cabinet's report sources, through the Cabinets page.
		eval[bool](b, admin, `(location.hash = "cabinets", true)`)
		cab := rowOf(f.cabinetCode)
		b.eventually(admin, cab+" !== undefined", "the cabinet is listed")
		eval[bool](b, admin, `(() => { const r = `+cab+`; r.querySelector('input[id^="rs-"]').value = "10.20.0.0/16"; [...r.querySelectorAll("button")].find((x) => x.textContent === "Save").click(); return true; })()`)
		require.EventuallyWithT(t, func(ct *assert.CollectT) {
			status, body := c.do("GET", "/v1/cabinets", c.token("admin-1", pyxis.RoleAdmin), nil)
			if !assert.Equal(ct, http.StatusOK, status) {
				return
			}
			for _, raw := range body["data"].([]any) {
				if cb := raw.(map[string]any); cb["code"] == f.cabinetCode {
					assert.Equal(ct, []any{"10.20.0.0/16"}, cb["report_sources"])
				}
			}
		}, 10*time.Second, 100*time.Millisecond)
	})

	t.Run("axe-core on every page, at 1280x800 and 390x844", func(t *testing.T) {
		b := b.with(t)
		c.directoryUser("admin-ui", "Ada Admin", pyxis.RoleAdmin, "")
		admin := b.user(c.token("admin-ui", pyxis.RoleAdmin), "")
		tech := b.user(c.token("tech-ui", pyxis.RoleTechnician), "")
		far := b.user(farTok, "")
		pages := []struct {
			ctx  context.Context
			hash string
			h1   string
		}{
			{pharmacist, "queue", "Approval queue"}, {pharmacist, "overrides", "Override reviews"},
			{pharmacist, "discrepancies", "Discrepancies"}, {far, "new", "New request"},
			{tech, "refills", "Refills"}, {tech, "stock", "Counts and loads"},
			{admin, "users", "Users"}, {admin, "cabinets", "Cabinets"}, {admin, "medications", "Medications"},
		}
		for _, size := range []struct{ w, h int64 }{{1280, 800}, {390, 844}} {
			for _, p := range pages {
				page := fmt.Sprintf("#%s at %dx%d", p.hash, size.w, size.h)
				b.do(p.ctx, chromedp.EmulateViewport(size.w, size.h))
				eval[bool](b, p.ctx, `(location.hash = `+js(p.hash)+`, true)`)
				b.eventually(p.ctx, `document.querySelector("main h1")?.textContent === `+js(p.h1)+
					` && document.querySelector("main table, main p:not(#loading)") !== null`, page+" shows")
				b.requireAccessible(p.ctx, page)
				b.requireFits(p.ctx, page)
			}
		}
		// The help dialog, and the queue on a phone.
		b.do(pharmacist, chromedp.EmulateViewport(390, 844))
		eval[bool](b, pharmacist, `(location.hash = "queue", true)`)
		b.eventually(pharmacist, `document.querySelector("main caption") !== null`, "the queue on a phone")
		b.screenshot(pharmacist, "queue-phone")
		b.do(pharmacist, chromedp.KeyEvent("?"))
		b.requireAccessible(pharmacist, "the keyboard help")
		b.do(pharmacist, chromedp.KeyEvent("\x1b"), chromedp.EmulateViewport(1280, 800))
		b.do(admin, chromedp.EmulateViewport(1280, 800))
		eval[bool](b, admin, `(location.hash = "users", true)`)
		b.eventually(admin, `document.querySelector("main caption")?.textContent === "Users"`, "the users page")
		b.screenshot(admin, "users")
	})

	t.Run("sign out ends the session", func(t *testing.T) {
		b := b.with(t)
		b.do(nurse, chromedp.Click(chromedp.CSS(`#tools button:last-child`)))
		b.eventually(nurse, `document.querySelector("main h1")?.textContent === "Sign in"`, "signed out")
		assert.Zero(t, b.named(nurse, "table", "My requests"))
		b.requireAccessible(nurse, "the sign-in page")
	})

}
