package hl7

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// The differential test reads every message the tests build and the fuzz seed corpus with
// an independent parser, python-hl7 (Debian package python3-hl7; the Go module
// kardianos/hl7 that was planned is not served by the module proxy here), and compares
// what both read: segment names and every field, repetition, component and subcomponent.
// python-hl7 does not unescape on parse: where its value holds the escape character, its
// Message.unescape is compared. Inputs our parser refuses are skipped (python-hl7 validates
// almost nothing). A disagreement fails the test unless knownDifferences lists it.

// knownDifferences are the inputs where the two parsers differ by design, and why.
var knownDifferences = map[string]string{
	"corpus/escapes_and_hex": "python-hl7 unescapes \\H\\ and \\N\\ to '_' and \\.br\\ to CR; " +
		"we keep formatting sequences as text (INTERFACE.md section 2); \\Xhh\\ of UTF-8 bytes: python-hl7 makes one code point per byte, we the bytes",
	"corpus/lf_line_ends":   "python-hl7 ends segments at CR only; we accept LF and CRLF too (INTERFACE.md section 2)",
	"corpus/truncation_v27": "python-hl7 does not know the v2.7 truncation character and keeps \\P\\ as written",
}

// xcheckPython returns the Python interpreter that has python-hl7, or "" when none has.
func xcheckPython() string {
	for _, py := range []string{os.Getenv("PYXIS_XCHECK_PYTHON"), "/usr/bin/python3", "python3"} {
		if py == "" {
			continue
		}
		if exec.Command(py, "-c", "import hl7").Run() == nil {
			return py
		}
	}
	return ""
}

// corpus returns the fuzz seed corpus, by file name.
func corpus(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/fuzz/FuzzParse/*")
	require.NoError(t, err)
	out := map[string][]byte{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		body, ok := bytes.CutPrefix(raw, []byte("go test fuzz v1\n"))
		require.True(t, ok, f)
		s := strings.TrimSpace(string(body))
		s, ok = strings.CutPrefix(s, "[]byte(")
		require.True(t, ok, f)
		s = strings.TrimSuffix(s, ")")
		v, err := strconv.Unquote(s)
		require.NoError(t, err, f)
		out[filepath.Base(f)] = []byte(v)
	}
	return out
}

// testPack returns every message of the test pack (testpack/, README.md there), as it goes
// on the wire.
func testPack(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testpack/*/*.hl7")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string][]byte{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		for i, block := range bytes.Split(bytes.TrimRight(raw, "\n"), []byte("\n\n")) {
			msg := append(bytes.ReplaceAll(block, []byte("\n"), []byte("\r")), '\r')
			out[fmt.Sprintf("%s/%s#%d", filepath.Base(filepath.Dir(f)), filepath.Base(f), i+1)] = msg
		}
	}
	return out
}

// leaf is one subcomponent as python-hl7 gave it.
type leaf struct {
	raw       string
	unescaped string
	escaped   bool
}

func (l *leaf) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &l.raw)
	}
	var v struct{ Raw, Unescaped string }
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*l = leaf{raw: v.Raw, unescaped: v.Unescaped, escaped: true}
	return nil
}

type pySegment struct {
	name   string
	fields [][][][]leaf
}

func (s *pySegment) UnmarshalJSON(b []byte) error {
	var v []json.RawMessage
	if err := json.Unmarshal(b, &v); err != nil || len(v) != 2 {
		return fmt.Errorf("segment %s: %v", b, err)
	}
	if err := json.Unmarshal(v[0], &s.name); err != nil {
		return err
	}
	return json.Unmarshal(v[1], &s.fields)
}

type pyResult struct {
	Name     string
	Error    string
	Segments []pySegment
}

func TestDifferentialWithPythonHL7(t *testing.T) {
	py := xcheckPython()
	if py == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("python-hl7 is missing: apt-get install python3-hl7 (or set PYXIS_XCHECK_PYTHON)")
		}
		t.Skip("python-hl7 is missing (apt-get install python3-hl7): the differential test does not run")
	}
	inputs := map[string][]byte{}
	for name, raw := range corpus(t) {
		inputs["corpus/"+name] = raw
	}
	for _, ex := range examples() {
		raw, err := ex.msg.Encode()
		require.NoError(t, err)
		inputs["example/"+ex.name] = raw
	}
	for name, raw := range testPack(t) {
		inputs["testpack/"+name] = raw
	}
	type item struct {
		Name string `json:"name"`
		B64  string `json:"b64"`
	}
	var items []item
	ours := map[string]*Message{}
	for name, raw := range inputs {
		m, err := Parse(raw)
		if err != nil {
			continue // refused by us: nothing to compare
		}
		if !utf8.Valid(raw) {
			// Text in another character set (ISO 8859-1): python-hl7 reads the whole
			// message transcoded, ours is transcoded value by value; both must agree.
			Transcode(m)
			raw = TranscodeRaw(raw)
		}
		ours[name] = m
		items = append(items, item{Name: name, B64: base64.StdEncoding.EncodeToString(raw)})
	}
	require.NotEmpty(t, items)
	body, err := json.Marshal(items)
	require.NoError(t, err)
	cmd := exec.Command(py, "testdata/xcheck/python_hl7.py")
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var results []pyResult
	require.NoError(t, json.Unmarshal(out, &results))
	require.Len(t, results, len(items))
	compared := 0
	for _, r := range results {
		diffs := compare(ours[r.Name], r)
		reason, known := knownDifferences[r.Name]
		switch {
		case len(diffs) > 0 && !known:
			t.Errorf("%s: the parsers disagree:\n  %s", r.Name, strings.Join(diffs, "\n  "))
		case len(diffs) == 0 && known:
			t.Errorf("%s: listed as a known difference (%s) but both parsers agree: remove it", r.Name, reason)
		case len(diffs) > 0:
			t.Logf("%s: known difference (%s): %d values", r.Name, reason, len(diffs))
		default:
			compared++
		}
	}
	t.Logf("%d of %d inputs read the same by both parsers", compared, len(results))
	for name := range knownDifferences {
		if _, ok := ours[name]; !ok {
			t.Errorf("known difference %s names no input compared", name)
		}
	}
}

// compare lists where python-hl7's reading differs from ours.
func compare(m *Message, r pyResult) []string {
	if r.Error != "" {
		return []string{"python-hl7 refused it: " + r.Error}
	}
	var diffs []string
	if len(r.Segments) != len(m.Segments) {
		return []string{fmt.Sprintf("%d segments, python-hl7 %d", len(m.Segments), len(r.Segments))}
	}
	for i, ps := range r.Segments {
		s := m.Segments[i]
		if ps.name != s.Name {
			diffs = append(diffs, fmt.Sprintf("segment %d is %s, python-hl7 %s", i+1, s.Name, ps.name))
			continue
		}
		if len(ps.fields) != len(s.Fields) {
			diffs = append(diffs, fmt.Sprintf("%s: %d fields, python-hl7 %d", s.Name, len(s.Fields), len(ps.fields)))
			continue
		}
		for fi, pf := range ps.fields {
			diffs = append(diffs, compareField(fmt.Sprintf("%s-%d", s.Name, fi+1), s.Fields[fi], pf, s.Name == "MSH" && fi < 2)...)
		}
	}
	return diffs
}

func compareField(where string, f Field, pf [][][]leaf, literal bool) []string {
	if literal {
		// MSH-1 and MSH-2 are the delimiters themselves: one value each.
		if len(pf) != 1 || len(pf[0]) != 1 || len(pf[0][0]) != 1 || pf[0][0][0].raw != f[0][0][0] {
			return []string{fmt.Sprintf("%s: %q, python-hl7 %v", where, f[0][0][0], pf)}
		}
		return nil
	}
	shape := func() string { return fmt.Sprintf("%s: shape %v, python-hl7 %v", where, f, pf) }
	if len(pf) != len(f) {
		return []string{shape()}
	}
	var diffs []string
	for ri, pr := range pf {
		if len(pr) != len(f[ri]) {
			return []string{shape()}
		}
		for ci, pc := range pr {
			if len(pc) != len(f[ri][ci]) {
				return []string{shape()}
			}
			for si, pl := range pc {
				ours := f[ri][ci][si]
				theirs := pl.raw
				if pl.escaped {
					theirs = pl.unescaped
				}
				if ours != theirs {
					diffs = append(diffs, fmt.Sprintf("%s rep %d comp %d sub %d: %q, python-hl7 %q (raw %q)", where, ri+1, ci+1, si+1, ours, theirs, pl.raw))
				}
			}
		}
	}
	return diffs
}
