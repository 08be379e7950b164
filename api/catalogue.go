package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet/drivers"
	"github.com/medreq/pyxis/db"
	"github.com/medreq/pyxis/internal/textcheck"
)

// catalogueStore is what the catalogue routes (medications, cabinets, their report sources and
// item masters) use of the database (db.CatalogueStore, db.CabinetStore).
type catalogueStore interface {
	ListMedications(ctx context.Context) ([]pyxis.Medication, error)
	GetMedication(ctx context.Context, id int64) (pyxis.Medication, error)
	GetMedications(ctx context.Context, ids []int64) ([]pyxis.Medication, error)
	CreateMedication(ctx context.Context, m db.NewMedication) (pyxis.Medication, error)
	UpdateMedication(ctx context.Context, id int64, c db.MedicationChange, by pyxis.Actor) (pyxis.Medication, error)
	ListCabinets(ctx context.Context) ([]pyxis.Cabinet, error)
	GetCabinet(ctx context.Context, id int64) (pyxis.Cabinet, error)
	CreateCabinet(ctx context.Context, c db.NewCabinet) (pyxis.Cabinet, error)
	SetCabinetReportSources(ctx context.Context, id int64, sources []netip.Prefix, by pyxis.Actor) (pyxis.Cabinet, error)
	ItemMasterCabinets(ctx context.Context, medicationID int64) ([]pyxis.Cabinet, error)
}

// MedicationBody is the body of POST /v1/medications and the shape of a medication.
type MedicationBody struct {
	ID       int64  `json:"id,omitempty"`
	Code     string `json:"code"`
	Name     string `json:"name"`
	Strength string `json:"strength"`
	Form     string `json:"form"`
	Unit     string `json:"unit"`
	// ControlledList is the list of Portaria SVS/MS 344/98 (A1 ... C5), empty if none;
	// Controlled is derived from it.
	ControlledList string `json:"controlled_list"`
	Controlled     bool   `json:"controlled"`
	// Route is the route of administration, a code of HL7 table 0162 ("" derives it from
	// the form); Barcodes the package barcodes (GTIN, NDC) cabinets scan; Active false for a
	// medication no longer used (the server's on creation: true).
	Route     string     `json:"route"`
	Barcodes  []string   `json:"barcodes"`
	Active    *bool      `json:"active,omitempty"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
}

// CabinetBody is the body of POST /v1/cabinets and the shape of a cabinet.
type CabinetBody struct {
	ID     int64  `json:"id,omitempty"`
	Code   string `json:"code"`
	Name   string `json:"name"`
	Unit   string `json:"unit"`
	Status string `json:"status"`
	// Driver is "hl7" or "sim" and has no default; an hl7 cabinet needs Address (host:port
	// of its MLLP interface), and sim is taken only where simulated cabinets are allowed.
	// Address and ReportSources are answered to admins only: where a cabinet listens, and
	// which networks it is believed from, is a map for whoever would forge its reports.
	Driver  string `json:"driver"`
	Address string `json:"address,omitempty"`
	// ReportSources are the networks (CIDRs) the cabinet's HL7 reports are believed from;
	// empty: nobody (a TLS client certificate naming the cabinet still is).
	ReportSources []string   `json:"report_sources,omitempty"`
	CreatedAt     *time.Time `json:"created_at,omitempty"`
}

// StockBody is the body of PUT /v1/cabinets/{id}/stock/{medication_id}. Both fields are
// required: a missing one must not silently zero a pocket.
type StockBody struct {
	OnHand   *int32 `json:"on_hand"`
	ParLevel *int32 `json:"par_level"`
}

// StockView is one pocket of a cabinet.
type StockView struct {
	CabinetID      int64     `json:"cabinet_id"`
	MedicationID   int64     `json:"medication_id"`
	MedicationCode string    `json:"medication_code"`
	MedicationName string    `json:"medication_name"`
	OnHand         int32     `json:"on_hand"`
	Reserved       int32     `json:"reserved"`
	Available      int32     `json:"available"`
	ParLevel       int32     `json:"par_level"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func (s *Server) listMedications(c *gin.Context) {
	meds, err := s.catalogue.ListMedications(c.Request.Context())
	if err != nil {
		abort(c, err)
		return
	}
	writeList(c, meds, medicationView, "")
}

func (s *Server) createMedication(c *gin.Context) {
	var body MedicationBody
	if err := bindJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	var fe fields
	fe.checkString("code", body.Code, true, 64)
	fe.checkString("name", body.Name, true, 200)
	fe.checkString("strength", body.Strength, false, 64)
	fe.checkString("form", body.Form, false, 64)
	fe.checkString("unit", body.Unit, false, 32)
	if body.ID != 0 || body.CreatedAt != nil {
		fe.add("id", "is assigned by the server")
	}
	switch {
	case !fe.checkText("controlled_list", body.ControlledList, textcheck.Line):
	case body.ControlledList != "" && !slices.Contains(db.ControlledLists, body.ControlledList):
		fe.add("controlled_list", "must be one of %s, or empty", strings.Join(db.ControlledLists, ", "))
	case body.Controlled && body.ControlledList == "":
		fe.add("controlled_list", "a controlled medication needs its list (%s)", strings.Join(db.ControlledLists, ", "))
	}
	route, barcodes := fe.checkRoute(body.Route), fe.checkBarcodes(body.Barcodes)
	if body.Active != nil && !*body.Active {
		fe.add("active", "a new medication is active")
	}
	if err := fe.err(); err != nil {
		abort(c, err)
		return
	}
	m, err := s.catalogue.CreateMedication(c.Request.Context(), db.NewMedication{
		Code: body.Code, Name: body.Name, Strength: body.Strength, Form: body.Form, Unit: body.Unit, ControlledList: body.ControlledList,
		Route: route, Barcodes: barcodes, By: actor(c),
	})
	if errors.Is(err, pyxis.ErrConflict) {
		err = newError(http.StatusConflict, CodeConflict, "a medication with code "+body.Code+" exists", nil)
	}
	if err != nil {
		abort(c, err)
		return
	}
	c.JSON(http.StatusCreated, medicationView(m))
}

func medicationView(m pyxis.Medication) MedicationBody {
	barcodes := m.Barcodes
	if barcodes == nil {
		barcodes = []string{}
	}
	return MedicationBody{ID: m.ID, Code: m.Code, Name: m.Name, Strength: m.Strength, Form: m.Form,
		Unit: m.Unit, ControlledList: m.ControlledList, Controlled: m.Controlled(), Route: m.Route, Barcodes: barcodes,
		Active: &m.Active, CreatedAt: timePtr(m.CreatedAt)}
}

func (s *Server) listCabinets(c *gin.Context) {
	cabs, err := s.catalogue.ListCabinets(c.Request.Context())
	if err != nil {
		abort(c, err)
		return
	}
	view := cabinetView
	if principal(c).Role != pyxis.RoleAdmin {
		view = func(cab pyxis.Cabinet) CabinetBody {
			v := cabinetView(cab)
			v.Address, v.ReportSources = "", nil
			return v
		}
	}
	writeList(c, cabs, view, "")
}

func (s *Server) createCabinet(c *gin.Context) {
	var body CabinetBody
	if err := bindJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	var fe fields
	fe.checkString("code", body.Code, true, 64)
	fe.checkString("name", body.Name, true, 200)
	fe.checkString("unit", body.Unit, false, 200)
	switch {
	case !fe.checkText("status", body.Status, textcheck.Line):
	case body.Status == "", body.Status == "online", body.Status == "offline", body.Status == "maintenance":
	default:
		fe.add("status", "must be one of online, offline, maintenance")
	}
	s.checkDriver(&fe, body.Driver, body.Address)
	sources := parseSources(&fe, "report_sources", body.ReportSources)
	if body.ID != 0 || body.CreatedAt != nil {
		fe.add("id", "is assigned by the server")
	}
	if err := fe.err(); err != nil {
		abort(c, err)
		return
	}
	cb, err := s.catalogue.CreateCabinet(c.Request.Context(), db.NewCabinet{
		Code: body.Code, Name: body.Name, Unit: body.Unit, Status: body.Status, Driver: body.Driver, Address: body.Address,
		ReportSources: sources,
		By:            actor(c),
	})
	if errors.Is(err, pyxis.ErrConflict) {
		err = newError(http.StatusConflict, CodeConflict, "a cabinet with code "+body.Code+" exists", nil)
	}
	if err != nil {
		abort(c, err)
		return
	}
	c.JSON(http.StatusCreated, cabinetView(cb))
}

// checkDriver checks a new cabinet's driver, which has no default: hl7 with the address of its
// interface (host:port), or sim where simulated cabinets are allowed (Config.AllowSimulatedCabinets).
func (s *Server) checkDriver(fe *fields, driver, address string) {
	addressOK := fe.checkText("address", address, textcheck.Line)
	if addressOK {
		fe.checkLength("address", address, false, 255)
	}
	choices := "hl7 (with the interface's address as host:port)"
	if s.cfg.AllowSimulatedCabinets {
		choices += " or sim"
	}
	switch {
	case !fe.checkText("driver", driver, textcheck.Line):
	case driver == "":
		fe.add("driver", "is required: %s", choices)
	case driver == drivers.HL7 && s.cfg.HL7ZoneUnset:
		fe.add("driver", "hl7 cabinets need the hospital's time zone: set PYXIS_HL7_TIMEZONE on the api and the worker first")
	case driver == drivers.HL7:
		if addressOK && !validHostPort(address) {
			fe.add("address", "an hl7 cabinet needs its interface address as host:port")
		}
	case driver == drivers.Sim && !s.cfg.AllowSimulatedCabinets:
		fe.add("driver", "%s", pyxis.SimulatedCabinetsRefused)
	case driver != drivers.Sim:
		fe.add("driver", "must be %s", choices)
	}
}

// validHostPort reports an address of the form host:port with a host and a port 1-65535.
func validHostPort(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

func cabinetView(cb pyxis.Cabinet) CabinetBody {
	return CabinetBody{ID: cb.ID, Code: cb.Code, Name: cb.Name, Unit: cb.Unit, Status: cb.Status,
		Driver: cb.Driver, Address: cb.Address, ReportSources: sourceStrings(cb.ReportSources), CreatedAt: timePtr(cb.CreatedAt)}
}

func (s *Server) listStock(c *gin.Context, id int64) {
	id, err := pathID(id, "cabinet")
	if err != nil {
		abort(c, err)
		return
	}
	ctx := c.Request.Context()
	if _, err := s.catalogue.GetCabinet(ctx, id); err != nil {
		abort(c, err)
		return
	}
	rows, err := s.stock.ListStock(ctx, id)
	if err != nil {
		abort(c, err)
		return
	}
	writeList(c, rows, stockView, "")
}

func (s *Server) setStock(c *gin.Context, cabinetID, medicationID int64) {
	cabinetID, err := pathID(cabinetID, "cabinet")
	if err != nil {
		abort(c, err)
		return
	}
	medicationID, err = pathID(medicationID, "medication")
	if err != nil {
		abort(c, err)
		return
	}
	var body StockBody
	if err := bindJSON(c, &body); err != nil {
		abort(c, err)
		return
	}
	var fe fields
	if body.OnHand == nil || *body.OnHand < 0 || *body.OnHand > db.MaxOnHand {
		fe.add("on_hand", "is required, between 0 and %d", db.MaxOnHand)
	}
	if body.ParLevel == nil || *body.ParLevel < 0 || *body.ParLevel > db.MaxOnHand {
		fe.add("par_level", "is required, between 0 and %d", db.MaxOnHand)
	}
	if err := fe.err(); err != nil {
		abort(c, err)
		return
	}
	me := actor(c)
	row, err := s.stock.SetStock(c.Request.Context(), cabinetID, medicationID, *body.OnHand, *body.ParLevel, pyxis.Actor{ID: me.ID, Role: me.Role})
	if errors.Is(err, pyxis.ErrNotFound) {
		err = notFound("cabinet or medication")
	}
	if err != nil {
		abort(c, err)
		return
	}
	if row.New {
		s.syncNewPocket(c.Request.Context(), cabinetID, medicationID)
	}
	c.JSON(http.StatusOK, stockView(row))
}

func stockView(r db.StockRow) StockView {
	return StockView{CabinetID: r.CabinetID, MedicationID: r.MedicationID, MedicationCode: r.MedicationCode,
		MedicationName: r.MedicationName, OnHand: r.OnHand, Reserved: r.Reserved, Available: r.OnHand - r.Reserved,
		ParLevel: r.ParLevel, UpdatedAt: r.UpdatedAt}
}

// requireCabinet answers 404 "cabinet not found" when id names no cabinet, for the handlers
// that only need the cabinet to exist.
func (s *Server) requireCabinet(ctx context.Context, id int64) error {
	_, err := s.catalogue.GetCabinet(ctx, id)
	if errors.Is(err, pyxis.ErrNotFound) {
		return notFound("cabinet")
	}
	return err
}
