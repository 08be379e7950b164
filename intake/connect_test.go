package intake_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/cabinet/mllp"
	"github.com/medreq/pyxis/intake"
)

// A peer may connect when some cabinet would take its reports: by address or by certificate.
func TestMayConnect(t *testing.T) {
	cabs := []pyxis.Cabinet{
		{Code: "PYX-ICU-01", ReportSources: []netip.Prefix{netip.MustParsePrefix("10.20.4.0/24")}},
		{Code: "PYX-ER-02"},
	}
	peer := func(addr, cn string) mllp.Peer {
		return mllp.Peer{Addr: netip.AddrPortFrom(netip.MustParseAddr(addr), 40000), CommonName: cn}
	}
	assert.True(t, intake.MayConnect(cabs, peer("10.20.4.7", "")))
	assert.True(t, intake.MayConnect(cabs, peer("::ffff:10.20.4.7", "")), "an IPv4-mapped address")
	assert.False(t, intake.MayConnect(cabs, peer("10.20.5.7", "")))
	assert.True(t, intake.MayConnect(cabs, peer("192.0.2.1", "PYX-ER-02")), "a certificate naming a cabinet")
	assert.False(t, intake.MayConnect(cabs, peer("10.20.4.7", "PYX-OTHER")), "a certificate naming no cabinet")
	assert.False(t, intake.MayConnect(nil, peer("10.20.4.7", "")))
}
