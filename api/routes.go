package api

import "github.com/gin-gonic/gin"

// routes implements the ServerInterface that server.gen.go generates from openapi.yaml, so
// every /v1 route is registered from the document and a document operation without a handler
// does not compile. The generated wrapper parses the parameters (a malformed one is answered
// by contract.paramError) and each handler takes them typed; the handlers check what the
// document cannot say (ranges, text, existence) and name the bad field in their answer.
type routes struct{ s *Server }

var _ ServerInterface = routes{}

func (r routes) CreateRequest(c *gin.Context, p CreateRequestParams) { r.s.createRequest(c, p) }
func (r routes) ListRequests(c *gin.Context, p ListRequestsParams)   { r.s.listRequests(c, p) }
func (r routes) ListApprovalQueue(c *gin.Context, p ListApprovalQueueParams) {
	r.s.listApprovalQueue(c, p)
}
func (r routes) GetRequest(c *gin.Context, id RequestIdParam, p GetRequestParams) {
	r.s.getRequest(c, id, p)
}
func (r routes) ListRequestAudit(c *gin.Context, id RequestIdParam)   { r.s.listAudit(c, id) }
func (r routes) ApproveRequest(c *gin.Context, id RequestIdParam)     { r.s.approve(c, id) }
func (r routes) RejectRequest(c *gin.Context, id RequestIdParam)      { r.s.reject(c, id) }
func (r routes) CancelRequest(c *gin.Context, id RequestIdParam)      { r.s.cancel(c, id) }
func (r routes) ReportCabinetEvent(c *gin.Context, id NumericIdParam) { r.s.cabinetEvent(c, id) }
func (r routes) ListMedications(c *gin.Context)                       { r.s.listMedications(c) }
func (r routes) CreateMedication(c *gin.Context)                      { r.s.createMedication(c) }
func (r routes) UpdateMedication(c *gin.Context, id NumericIdParam)   { r.s.updateMedication(c, id) }
func (r routes) ListCabinets(c *gin.Context)                          { r.s.listCabinets(c) }
func (r routes) CreateCabinet(c *gin.Context)                         { r.s.createCabinet(c) }
func (r routes) SetReportSources(c *gin.Context, id NumericIdParam)   { r.s.setReportSources(c, id) }
func (r routes) ListStock(c *gin.Context, id NumericIdParam)          { r.s.listStock(c, id) }
func (r routes) RecordCount(c *gin.Context, id NumericIdParam)        { r.s.recordCount(c, id) }
func (r routes) RecordLoad(c *gin.Context, id NumericIdParam)         { r.s.recordLoad(c, id) }
func (r routes) WitnessLoad(c *gin.Context, id NumericIdParam)        { r.s.witnessLoad(c, id) }
func (r routes) ListRefills(c *gin.Context, p ListRefillsParams)      { r.s.listRefills(c, p) }
func (r routes) ConfirmRefill(c *gin.Context, id NumericIdParam)      { r.s.confirmRefill(c, id) }
func (r routes) ResolveDiscrepancy(c *gin.Context, id NumericIdParam) { r.s.resolveDiscrepancy(c, id) }
func (r routes) ListOverrides(c *gin.Context, p ListOverridesParams)  { r.s.listOverrides(c, p) }
func (r routes) ReviewOverride(c *gin.Context, id NumericIdParam)     { r.s.reviewOverride(c, id) }
func (r routes) VerifyAudit(c *gin.Context)                           { r.s.verifyAudit(c) }
func (r routes) ListUsers(c *gin.Context)                             { r.s.listUsers(c) }
func (r routes) CreateUser(c *gin.Context)                            { r.s.createUser(c) }
func (r routes) GetUser(c *gin.Context, id UserIdParam)               { r.s.getUser(c, id) }
func (r routes) PatchUser(c *gin.Context, id UserIdParam)             { r.s.patchUser(c, id) }
func (r routes) ListAccessLog(c *gin.Context, p ListAccessLogParams)  { r.s.listAccessLog(c, p) }
func (r routes) SetStock(c *gin.Context, id NumericIdParam, medicationID MedicationIdParam) {
	r.s.setStock(c, id, medicationID)
}
func (r routes) ListDiscrepancies(c *gin.Context, p ListDiscrepanciesParams) {
	r.s.listDiscrepancies(c, p)
}
func (r routes) ControlledRegister(c *gin.Context, p ControlledRegisterParams) {
	r.s.controlledRegister(c, p)
}
