package hl7

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrBadTime reports an HL7 timestamp that does not read as YYYYMMDDHHMM[SS[.S+]][+/-ZZZZ].
var ErrBadTime = errors.New("bad HL7 timestamp")

// FormatTime writes t as an HL7 timestamp with seconds and the zone offset:
// YYYYMMDDHHMMSS+ZZZZ.
func FormatTime(t time.Time) string {
	return t.Format("20060102150405-0700")
}

// ParseTime reads an HL7 timestamp YYYYMMDDHHMM[SS[.S+]][+/-ZZZZ]. The date alone
// (YYYYMMDD) and the hour (YYYYMMDDHH) are accepted too, as HL7 allows reduced precision. A
// timestamp without an offset is read in loc, or in UTC when loc is nil.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	bad := func(why string) (time.Time, error) {
		return time.Time{}, fmt.Errorf("%w %q: %s", ErrBadTime, s, why)
	}
	if loc == nil {
		loc = time.UTC
	}
	body, zone := s, ""
	for i := 8; i < len(s); i++ {
		if s[i] == '+' || s[i] == '-' {
			body, zone = s[:i], s[i:]
			break
		}
	}
	frac := ""
	for i := range len(body) {
		if body[i] == '.' {
			body, frac = body[:i], body[i+1:]
			break
		}
	}
	if !allDigits(body) {
		return bad("not digits")
	}
	switch len(body) {
	case 8, 10, 12, 14:
	default:
		return bad("needs YYYYMMDD[HH[MM[SS]]]")
	}
	if frac != "" && (len(body) != 14 || len(frac) > 9 || !allDigits(frac)) {
		return bad("fraction of a second needs seconds and 1-9 digits")
	}
	num := func(from, to int) int {
		if to > len(body) {
			return 0
		}
		n, _ := strconv.Atoi(body[from:to])
		return n
	}
	year, month, day := num(0, 4), num(4, 6), num(6, 8)
	hour, minute, sec := num(8, 10), num(10, 12), num(12, 14)
	nsec := 0
	if frac != "" {
		n, _ := strconv.Atoi(frac)
		for i := len(frac); i < 9; i++ {
			n *= 10
		}
		nsec = n
	}
	if zone != "" {
		if len(zone) != 5 || !allDigits(zone[1:]) {
			return bad("offset needs +/-ZZZZ")
		}
		zh, _ := strconv.Atoi(zone[1:3])
		zm, _ := strconv.Atoi(zone[3:5])
		if zh > 23 || zm > 59 {
			return bad("offset out of range")
		}
		off := zh*3600 + zm*60
		if zone[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	}
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return bad("out of range")
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	if t.Day() != day {
		return bad("no such day")
	}
	return t, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
