package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet"
	"github.com/medreq/pyxis/cabinet/drivers"
	"github.com/medreq/pyxis/cabinet/hl7"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/workflows"
)

// MedicationChangeBody is the body of PATCH /v1/medications/{id}: the fields to change (the
// code is the medication's identity and does not change).
type MedicationChangeBody struct {
	Name           *string   `json:"name"`
	Strength       *string   `json:"strength"`
	Form           *string   `json:"form"`
	Unit           *string   `json:"unit"`
	ControlledList *string   `json:"controlled_list"`
	Route          *string   `json:"route"`
	Barcodes       *[]string `json:"barcodes"`
	// Active false deactivates the medication: every cabinet that stocks it is told (MDC).
	Active *bool `json:"active"`
}

// updateMedication changes a catalogue entry (audited with before and after), then tells the
// item master of every HL7 cabinet that stocks it (MFN^M01, through an ItemSync workflow).
func (s *Server) updateMedication(c *gin.Context, id int64) {
	id, err := pathID(id, "medication")
	if err != nil {
		abort(c, err)
		return
	}
	var body MedicationChangeBody
	if err := bindJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	ctx := c.Request.Context()
	cur, err := s.catalogue.GetMedication(ctx, id)
	if err != nil {
		abort(c, err)
		return
	}
	next := db.MedicationChange{Name: cur.Name, Strength: cur.Strength, Form: cur.Form, Unit: cur.Unit, ControlledList: cur.ControlledList,
		Route: cur.Route, Barcodes: cur.Barcodes, Active: cur.Active}
	var fe fields
	for _, f := range []struct {
		name string
		in   *string
		dst  *string
		req  bool
		max  int
	}{
		{"name", body.Name, &next.Name, true, 200}, {"strength", body.Strength, &next.Strength, false, 64},
		{"form", body.Form, &next.Form, false, 64}, {"unit", body.Unit, &next.Unit, false, 32},
	} {
		if f.in != nil {
			fe.checkString(f.name, *f.in, f.req, f.max)
			*f.dst = *f.in
		}
	}
	if body.ControlledList != nil {
		if *body.ControlledList != "" && !slices.Contains(db.ControlledLists, *body.ControlledList) {
			fe.add("controlled_list", "must be one of %s, or empty", strings.Join(db.ControlledLists, ", "))
		}
		next.ControlledList = *body.ControlledList
	}
	if body.Route != nil {
		next.Route = fe.checkRoute(*body.Route)
	}
	if body.Barcodes != nil {
		next.Barcodes = fe.checkBarcodes(*body.Barcodes)
	}
	if body.Active != nil {
		next.Active = *body.Active
	}
	if err := fe.err(); err != nil {
		abort(c, err)
		return
	}
	m, err := s.catalogue.UpdateMedication(ctx, id, next, actor(c))
	if errors.Is(err, pyxis.ErrNotFound) {
		err = notFound("medication")
	}
	if err != nil {
		abort(c, err)
		return
	}
	s.syncItemMasters(ctx, m.ID)
	c.JSON(http.StatusOK, medicationView(m))
}

// syncItemMasters tells every item master of the HL7 cabinets that stock a medication that it
// changed: once per address, since cabinets behind one central server or interface engine
// share its item master (the sync's activity sends for all of them). It does not fail the
// change it follows: a sync that cannot start is logged, and the next change (or pocket)
// starts it again.
func (s *Server) syncItemMasters(ctx context.Context, medicationID int64) {
	cabs, err := s.catalogue.ItemMasterCabinets(ctx, medicationID)
	if err != nil {
		slog.ErrorContext(ctx, "item master sync not started", "medication_id", medicationID, "error", err)
		return
	}
	for _, cab := range cabs {
		if siteOf(cabs, cab).ID == cab.ID {
			s.syncItem(ctx, cab.ID, medicationID, false)
		}
	}
}

// siteOf returns the cabinet that stands for cab's address among cabs (ordered by id): the
// first at the same address, else cab. One ItemSync per address and medication runs under
// its id, so changes at the same time are sent once.
func siteOf(cabs []pyxis.Cabinet, cab pyxis.Cabinet) pyxis.Cabinet {
	addr := cabinet.NormalizeAddress(cab.Address)
	for _, c := range cabs {
		if c.Driver == cab.Driver && cabinet.NormalizeAddress(c.Address) == addr {
			return c
		}
	}
	return cab
}

// syncNewPocket sends the item master record of a medication newly stocked at an HL7
// cabinet, before anyone orders it there: a cabinet refuses an order for an item it does
// not know.
func (s *Server) syncNewPocket(ctx context.Context, cabinetID, medicationID int64) {
	cab, err := s.catalogue.GetCabinet(ctx, cabinetID)
	if err != nil {
		slog.ErrorContext(ctx, "item master sync not started", "cabinet_id", cabinetID, "medication_id", medicationID, "error", err)
		return
	}
	if cab.Driver != drivers.HL7 {
		return
	}
	cabs, err := s.catalogue.ItemMasterCabinets(ctx, medicationID)
	if err != nil {
		slog.ErrorContext(ctx, "item master sync not started", "cabinet_id", cabinetID, "medication_id", medicationID, "error", err)
		return
	}
	s.syncItem(ctx, siteOf(cabs, cab).ID, medicationID, true)
}

// syncItem starts (or signals) the ItemSync of one medication at one cabinet.
func (s *Server) syncItem(ctx context.Context, cabinetID, medicationID int64, isNew bool) {
	if s.temporal == nil {
		return // a server without Temporal: the router's own tests
	}
	if err := workflows.SyncItem(ctx, s.temporal, workflows.TaskQueue, cabinetID, medicationID, isNew); err != nil {
		slog.ErrorContext(ctx, "item master sync not started", "cabinet_id", cabinetID, "medication_id", medicationID, "error", err)
	}
}

// Bounds of a medication's barcodes.
const (
	maxBarcodes      = 20
	maxBarcodeLength = 48
)

// checkRoute checks a route of administration against HL7 table 0162 (what RXR-1 of every
// order of the medication sends) and returns it in upper case; "" derives it from the form.
func (f *fields) checkRoute(route string) string {
	route = strings.ToUpper(strings.TrimSpace(route))
	if route == "" {
		return ""
	}
	if err := hl7.CheckRoute(route); err != nil {
		f.add("route", "%q is not a route of HL7 table 0162 (such as PO, IV, IM, SC, SL, TD)", route)
	}
	return route
}

// checkBarcodes checks the package barcodes (GTIN, NDC, or a hospital's own label) a cabinet
// scans at refill, and returns them without surrounding space.
func (f *fields) checkBarcodes(codes []string) []string {
	if len(codes) > maxBarcodes {
		f.add("barcodes", "at most %d barcodes", maxBarcodes)
		return nil
	}
	out := make([]string, 0, len(codes))
	for i, c := range codes {
		c = strings.TrimSpace(c)
		name := fmt.Sprintf("barcodes[%d]", i)
		f.checkString(name, c, true, maxBarcodeLength)
		if strings.ContainsAny(c, `|^~\&`) {
			f.add(name, `holds an HL7 delimiter (| ^ ~ \ &)`)
		}
		if slices.Contains(out, c) {
			f.add(name, "is listed twice")
		}
		out = append(out, c)
	}
	return out
}
