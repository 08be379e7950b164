package cabinet

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Count is a whole number a report may leave out. The zero Count is absent: a field the
// cabinet left empty is never read as 0. It marshals to JSON as a number or null.
type Count struct {
	N     int32
	Valid bool
}

// CountOf returns a present Count of n.
func CountOf(n int32) Count { return Count{N: n, Valid: true} }

// Get returns the number and whether it is present.
func (c Count) Get() (int32, bool) { return c.N, c.Valid }

// Or returns the number, or def when it is absent.
func (c Count) Or(def int32) int32 {
	if !c.Valid {
		return def
	}
	return c.N
}

// String returns the number in decimal, or "" when it is absent (as HL7 writes it).
func (c Count) String() string {
	if !c.Valid {
		return ""
	}
	return strconv.FormatInt(int64(c.N), 10)
}

// MarshalJSON writes the number, or null when it is absent.
func (c Count) MarshalJSON() ([]byte, error) {
	if !c.Valid {
		return []byte("null"), nil
	}
	return strconv.AppendInt(nil, int64(c.N), 10), nil
}

// UnmarshalJSON reads a number, or null as absent.
func (c *Count) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*c = Count{}
		return nil
	}
	var n int32
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*c = CountOf(n)
	return nil
}
