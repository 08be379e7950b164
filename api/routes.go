package api

import "github.com/gin-gonic/gin"

// routes implements the ServerInterface that server.gen.go generates from openapi.yaml, so
// every /v1 route is registered from the document and a document operation without a handler
// does not compile. The generated wrapper has already parsed the parameters it passes; the
// handlers read them again from the gin context, because they also check ranges, text and
// existence, and name the bad field in their answer as they always have.
type routes struct{ s *Server }

var _ ServerInterface = routes{}

func (r routes) CreateRequest(c *gin.Context, _ CreateRequestParams)            { r.s.createRequest(c) }
func (r routes) ListRequests(c *gin.Context, _ ListRequestsParams)              { r.s.listRequests(c) }
func (r routes) GetRequest(c *gin.Context, _ RequestIdParam)                    { r.s.getRequest(c) }
func (r routes) ListRequestAudit(c *gin.Context, _ RequestIdParam)              { r.s.listAudit(c) }
func (r routes) ApproveRequest(c *gin.Context, _ RequestIdParam)                { r.s.approve(c) }
func (r routes) RejectRequest(c *gin.Context, _ RequestIdParam)                 { r.s.reject(c) }
func (r routes) CancelRequest(c *gin.Context, _ RequestIdParam)                 { r.s.cancel(c) }
func (r routes) ReportCabinetEvent(c *gin.Context, _ NumericIdParam)            { r.s.cabinetEvent(c) }
func (r routes) ListMedications(c *gin.Context)                                 { r.s.listMedications(c) }
func (r routes) CreateMedication(c *gin.Context)                                { r.s.createMedication(c) }
func (r routes) UpdateMedication(c *gin.Context, _ NumericIdParam)              { r.s.updateMedication(c) }
func (r routes) ListCabinets(c *gin.Context)                                    { r.s.listCabinets(c) }
func (r routes) CreateCabinet(c *gin.Context)                                   { r.s.createCabinet(c) }
func (r routes) SetReportSources(c *gin.Context, _ NumericIdParam)              { r.s.setReportSources(c) }
func (r routes) ListStock(c *gin.Context, _ NumericIdParam)                     { r.s.listStock(c) }
func (r routes) SetStock(c *gin.Context, _ NumericIdParam, _ MedicationIdParam) { r.s.setStock(c) }
func (r routes) RecordCount(c *gin.Context, _ NumericIdParam)                   { r.s.recordCount(c) }
func (r routes) RecordLoad(c *gin.Context, _ NumericIdParam)                    { r.s.recordLoad(c) }
func (r routes) ListRefills(c *gin.Context, _ ListRefillsParams)                { r.s.listRefills(c) }
func (r routes) ConfirmRefill(c *gin.Context, _ NumericIdParam)                 { r.s.confirmRefill(c) }
func (r routes) ListDiscrepancies(c *gin.Context, _ ListDiscrepanciesParams) {
	r.s.listDiscrepancies(c)
}
func (r routes) ResolveDiscrepancy(c *gin.Context, _ NumericIdParam) { r.s.resolveDiscrepancy(c) }
func (r routes) ListOverrides(c *gin.Context, _ ListOverridesParams) { r.s.listOverrides(c) }
func (r routes) ReviewOverride(c *gin.Context, _ NumericIdParam)     { r.s.reviewOverride(c) }
func (r routes) VerifyAudit(c *gin.Context)                          { r.s.verifyAudit(c) }
func (r routes) ControlledRegister(c *gin.Context, _ ControlledRegisterParams) {
	r.s.controlledRegister(c)
}
func (r routes) ListUsers(c *gin.Context)                            { r.s.listUsers(c) }
func (r routes) CreateUser(c *gin.Context)                           { r.s.createUser(c) }
func (r routes) GetUser(c *gin.Context, _ UserIdParam)               { r.s.getUser(c) }
func (r routes) PatchUser(c *gin.Context, _ UserIdParam)             { r.s.patchUser(c) }
func (r routes) ListAccessLog(c *gin.Context, _ ListAccessLogParams) { r.s.listAccessLog(c) }
