package db

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/medreq/pyxis"
	"github.com/medreq/pyxis/db/gen"
)

// auditHashVersion opens every canonical encoding, so a future encoding can be told apart.
const auditHashVersion = "pyxis-audit-v1"

// auditRecord is one audit entry to append to the chain.
type auditRecord struct {
	at        time.Time
	actor     pyxis.Actor
	action    string
	requestID string // "" is stored as NULL
	idemKey   string // "" means no key
	details   map[string]any
}

// appendAudit appends rec to the audit log in the caller's transaction. It is the only way
// audit entries are written. The entry is durable and append-only as soon as the transaction
// commits, but not chained yet: a trigger queues it, and the sealer (audit_seal.go) chains it
// within a second. So no transaction waits here for another: an audited transaction takes no
// lock beyond its own row. An entry whose idemKey was already written is skipped. A zero at
// means now; at is stored to the microsecond, as it is hashed.
func appendAudit(ctx context.Context, q *gen.Queries, rec auditRecord) error {
	details, err := marshalDetails(rec.details)
	if err != nil {
		return err
	}
	if rec.at.IsZero() {
		rec.at = time.Now()
	}
	_, err = q.InsertAudit(ctx, gen.InsertAuditParams{
		At:        rec.at.UTC().Truncate(time.Microsecond),
		ActorID:   rec.actor.ID,
		ActorRole: rec.actor.Role,
		Action:    rec.action,
		RequestID: pgtype.Text{String: rec.requestID, Valid: rec.requestID != ""},
		Details:   details,
		IdemKey:   pgtype.Text{String: rec.idemKey, Valid: rec.idemKey != ""},
	})
	return err
}

// auditHash is SHA-256 over the canonical encoding of an entry: the JSON array
//
//	["pyxis-audit-v1", seq, hex(prev_hash), at, actor_id, actor_role, action, request_id|null, details]
//
// with at in UTC as 2006-01-02T15:04:05.000000Z, and details as canonical JSON: object keys
// sorted bytewise, no insignificant whitespace, no HTML escaping, integers as written and
// other numbers in Go's shortest float64 form (so the encoding survives a jsonb round trip).
func auditHash(prev []byte, seq int64, at time.Time, actorID, actorRole, action, requestID string, details []byte) ([]byte, error) {
	var d any
	dec := json.NewDecoder(bytes.NewReader(details))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("audit details: %w", err)
	}
	var reqID any
	if requestID != "" {
		reqID = requestID
	}
	var buf bytes.Buffer
	err := writeCanonical(&buf, []any{
		auditHashVersion, json.Number(strconv.FormatInt(seq, 10)), hex.EncodeToString(prev),
		at.UTC().Format("2006-01-02T15:04:05.000000Z"), actorID, actorRole, action, reqID, d,
	})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(buf.Bytes())
	return sum[:], nil
}

// writeCanonical writes v, a value decoded from JSON with UseNumber, as canonical JSON.
func writeCanonical(buf *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	case json.Number:
		buf.WriteString(canonicalNumber(string(v)))
	case string:
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
	case []any:
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeCanonical(buf, k); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := writeCanonical(buf, v[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("audit details: unexpected %T", v)
	}
	return nil
}

// canonicalNumber gives one spelling to every way of writing a number that Go's encoder and
// Postgres' jsonb output may produce ("1e+21" and "1000000000000000000000", "1500" and
// "1.5e3", "-0" and "0"): integers within int64 in decimal, other numbers in Go's shortest
// float64 form.
func canonicalNumber(s string) string {
	if !strings.ContainsAny(s, ".eE") {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return strconv.FormatInt(n, 10)
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return s
	}
	if f == math.Trunc(f) && math.Abs(f) < 9e18 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// AuditVerification is the result of walking the audit chain.
type AuditVerification struct {
	// Entries is how many audit entries were checked: chained (in-row or sealed) and, in a
	// full walk, legacy ones. Entries not sealed yet are not among them (Unsealed).
	Entries int
	// Legacy is how many of them predate the chain (migration 0003); they are checked as a
	// whole against the seal the migration made of them.
	Legacy int
	// Unsealed is how many entries were written but not chained yet, and OldestUnsealed how
	// long the oldest of them has waited; a full walk (VerifyAudit) counts them. The sealer
	// chains an entry within a second; one that waits longer than 5 s is a violation that
	// `pyxis check` reports (UnsealedAudit).
	Unsealed       int
	OldestUnsealed time.Duration
	// OK is true when every link holds.
	OK bool
	// FirstBrokenID is the id of the first entry found altered, missing its predecessor or
	// out of place; 0 when OK.
	FirstBrokenID int64
	// Reason says what is wrong with it; "" when OK.
	Reason string
	// HeadSeq and HeadHash (hex) are the chain head. Writing them down elsewhere now and then
	// (a ticket, a log shipped off the host) lets a later check prove that nobody rewrote
	// the chain from some entry on, which a hash chain alone cannot.
	HeadSeq  int64
	HeadHash string
	// Checkpoint is the last chained entry found intact, where a later VerifyAuditSince may
	// start; zero when no chained entry was checked.
	Checkpoint AuditCheckpoint
}

// AuditCheckpoint is an audit entry a verification found intact: its id, chain position and
// hash.
type AuditCheckpoint struct {
	ID, Seq int64
	Hash    []byte
}

// verifyBatch is how many entries VerifyAudit reads per query.
const verifyBatch = 1000

// VerifyAudit walks the whole audit chain in one consistent snapshot and checks every link,
// in chain (seq) order: entries chained in-row before migration 0015 and sealed entries
// alike. Each entry's hash matches its content, its prev_hash is the hash of the entry
// before it, seq numbers follow one another, no sealed entry is missing, the legacy entries
// still match their seal, and the chain ends at the head. It reports the first entry where
// that fails, and counts the entries not sealed yet. An error means the check could not be
// made, not that the chain is broken.
func (s *AuditStore) VerifyAudit(ctx context.Context) (AuditVerification, error) {
	return s.VerifyAuditSince(ctx, AuditCheckpoint{})
}

// VerifyAuditSince checks the chain from a checkpoint an earlier verification returned: the
// checkpoint entry still has its hash and content, and every entry after it links as
// VerifyAudit checks. It reads only the entries chained since, so it can run often; an
// entry altered before the checkpoint goes unnoticed until the next full VerifyAudit (a zero
// checkpoint makes this one).
func (s *AuditStore) VerifyAuditSince(ctx context.Context, from AuditCheckpoint) (AuditVerification, error) {
	var v AuditVerification
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		var err error
		if v, err = verifyChain(ctx, q, from); err != nil || from.ID > 0 {
			return err
		}
		u, err := q.UnsealedAudit(ctx, 0)
		v.Unsealed, v.OldestUnsealed = int(u.Unsealed), secondsDuration(u.OldestAgeSeconds)
		return err
	})
	if err != nil {
		return AuditVerification{}, wrap("verify audit", err)
	}
	return v, nil
}

// UnsealedEntries are the audit entries that have waited longer than some time for their
// seal.
type UnsealedEntries struct {
	// Count is how many; FirstID the first of them (0 for none); Oldest how long the oldest
	// has waited.
	Count   int64
	FirstID int64
	Oldest  time.Duration
}

// UnsealedAudit returns the audit entries written at least olderThan ago, by the database's
// clock, that are not chained yet: the sealer is not running, or is behind, or an entry was
// taken off its queue.
func (s *AuditStore) UnsealedAudit(ctx context.Context, olderThan time.Duration) (UnsealedEntries, error) {
	u, err := s.q.UnsealedAudit(ctx, olderThan.Seconds())
	if err != nil {
		return UnsealedEntries{}, wrap("unsealed audit", err)
	}
	return UnsealedEntries{Count: u.Unsealed, FirstID: u.FirstID, Oldest: secondsDuration(u.OldestAgeSeconds)}, nil
}

func secondsDuration(s float64) time.Duration {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond)
}

func verifyChain(ctx context.Context, q *gen.Queries, from AuditCheckpoint) (AuditVerification, error) {
	info, err := q.GetAuditChainInfo(ctx)
	if err != nil {
		return AuditVerification{}, err
	}
	v := AuditVerification{HeadSeq: info.Seq, HeadHash: hex.EncodeToString(info.Hash)}
	broken := func(id int64, format string, args ...any) (AuditVerification, error) {
		v.FirstBrokenID, v.Reason = id, fmt.Sprintf(format, args...)
		return v, nil
	}
	legacyBroken := func() (AuditVerification, error) {
		return broken(max(info.FirstLegacyID, 1), "the entries written before the chain began (ids up to %d) changed after migration 0003 sealed them", info.LegacyThroughID)
	}
	var (
		prevHash = info.LegacySeal // the genesis: the seal of the legacy entries as they are now
		prevSeq  int64
		prevID   int64
	)
	if from.ID > 0 {
		rows, err := q.ListAuditChain(ctx, gen.ListAuditChainParams{AfterSeq: from.Seq - 1, MaxRows: 1})
		if err != nil {
			return AuditVerification{}, err
		}
		if len(rows) == 0 || rows[0].Seq.Int64 != from.Seq || rows[0].ID != from.ID || !rows[0].Present {
			return broken(from.ID, "entry %d, verified before, is missing", from.ID)
		}
		r := rows[0]
		want, err := auditHash(r.PrevHash, r.Seq.Int64, r.At, r.ActorID, r.ActorRole, r.Action, r.RequestID.String, r.Details)
		if err != nil || !bytes.Equal(r.Hash, from.Hash) || !bytes.Equal(want, r.Hash) {
			return broken(from.ID, "entry %d was altered since it was verified", from.ID)
		}
		prevHash, prevSeq, prevID = from.Hash, from.Seq, from.ID
		v.Checkpoint = from
	} else {
		v.Legacy = int(info.LegacyEntries)
		v.Entries = v.Legacy
	}
	for {
		rows, err := q.ListAuditChain(ctx, gen.ListAuditChainParams{AfterSeq: prevSeq, MaxRows: verifyBatch})
		if err != nil {
			return AuditVerification{}, err
		}
		for _, r := range rows {
			v.Entries++
			seq := r.Seq.Int64
			if seq != prevSeq+1 {
				return broken(r.ID, "entry %d has chain position %d where %d was expected: entries before it are missing or it was moved", r.ID, seq, prevSeq+1)
			}
			if !r.Present {
				return broken(r.ID, "entry %d, sealed at chain position %d, is missing", r.ID, seq)
			}
			if !bytes.Equal(r.PrevHash, prevHash) {
				if prevSeq == 0 {
					return legacyBroken()
				}
				return broken(r.ID, "entry %d does not link to entry %d before it", r.ID, prevID)
			}
			want, err := auditHash(r.PrevHash, seq, r.At, r.ActorID, r.ActorRole, r.Action, r.RequestID.String, r.Details)
			if err != nil {
				return broken(r.ID, "entry %d cannot be encoded: %v", r.ID, err)
			}
			if !bytes.Equal(want, r.Hash) {
				return broken(r.ID, "entry %d was altered: its content does not match its hash", r.ID)
			}
			prevHash, prevSeq, prevID = r.Hash, seq, r.ID
			v.Checkpoint = AuditCheckpoint{ID: r.ID, Seq: seq, Hash: r.Hash}
		}
		if len(rows) < verifyBatch {
			break
		}
	}
	if prevSeq == 0 && !bytes.Equal(prevHash, info.Hash) {
		return legacyBroken()
	}
	if prevSeq != info.Seq || !bytes.Equal(prevHash, info.Hash) {
		return broken(prevID+1, "the chain ends at position %d (entry %d) but its head is at %d: the last entries were removed or the head was moved", prevSeq, prevID, info.Seq)
	}
	v.OK = true
	return v, nil
}
