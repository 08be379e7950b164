package db

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/medreq/pyxis/db/gen"
)

// The sealer chains the audit entries that business transactions wrote unchained (migration
// 0015): it reads the queued entries, oldest id first, links each to the one before with
// auditHash, and writes their seals, moves the head and empties the queue in one transaction
// per batch. Entries are chained in the order the sealer finds them committed, so an entry
// whose transaction commits late is chained after younger ones; its seq, not its id, is its
// place in the chain.
const (
	// sealInterval is how often the leading sealer looks for entries to seal: an entry is
	// chained within about this long after its commit (the promise is one second).
	sealInterval = 200 * time.Millisecond
	// sealLeadRetry is how often a process that does not lead tries to take the lead: the
	// longest the chain waits when the leader's process or connection goes.
	sealLeadRetry = time.Second
	// sealBatch bounds the entries chained per transaction.
	sealBatch = 1000
	// UnsealedAfter is how long an entry may wait for its seal before `pyxis check` reports
	// it: five sealing rounds and more, and the leader's failover.
	UnsealedAfter = 5 * time.Second
)

// auditSealerKey is the advisory lock of the one process that seals ("audt").
const auditSealerKey int64 = 0x61756474

// RunSealer chains audit entries until ctx ends. One process seals at a time (a Postgres
// advisory lock): every api and worker process runs RunSealer, and another takes over within
// a second or so when the sealer's process or connection goes. Errors are logged and
// retried; it returns when ctx ends.
func (s *AuditStore) RunSealer(ctx context.Context) {
	for {
		lead, err := tryLead(ctx, s.pool, auditSealerKey)
		if err == nil && lead != nil {
			err = s.sealWhileLeading(ctx, lead)
			lead.Release()
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			slog.WarnContext(ctx, "audit sealer: not sealing for now", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(sealLeadRetry):
		}
	}
}

// sealWhileLeading seals every sealInterval while this process holds the lead.
func (s *AuditStore) sealWhileLeading(ctx context.Context, lead *Lead) error {
	tick := time.NewTicker(sealInterval)
	defer tick.Stop()
	for {
		if err := lead.Check(ctx); err != nil {
			return err
		}
		if _, err := s.SealAudit(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// SealAudit chains every audit entry waiting for its seal and returns how many it chained.
// It is safe to call from several processes at once (they take turns on the chain head's
// lock), though RunSealer's lead makes that rare.
func (s *AuditStore) SealAudit(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := s.sealBatch(ctx)
		total += n
		if err != nil {
			return total, wrap("seal audit", err)
		}
		if n < sealBatch {
			return total, nil
		}
	}
}

// sealBatch chains up to sealBatch queued entries in one transaction.
func (s *AuditStore) sealBatch(ctx context.Context) (int, error) {
	// Look before locking: an idle sealer then writes nothing, not even a row lock.
	waiting, err := s.q.ListAuditToSeal(ctx, 1)
	if err != nil || len(waiting) == 0 {
		return 0, err
	}
	n := 0
	err = s.inTx(ctx, func(q *gen.Queries) error {
		head, err := q.LockAuditHead(ctx)
		if err != nil {
			return fmt.Errorf("lock audit chain head: %w", err)
		}
		rows, err := q.ListAuditToSeal(ctx, sealBatch)
		if err != nil || len(rows) == 0 {
			return err
		}
		p := gen.InsertAuditSealsParams{
			EntryIds: make([]int64, len(rows)), Seqs: make([]int64, len(rows)),
			PrevHashes: make([][]byte, len(rows)), Hashes: make([][]byte, len(rows)),
		}
		prev, seq := head.Hash, head.Seq
		for i, r := range rows {
			seq++
			hash, err := auditHash(prev, seq, r.At, r.ActorID, r.ActorRole, r.Action, r.RequestID.String, r.Details)
			if err != nil {
				return fmt.Errorf("audit entry %d: %w", r.ID, err)
			}
			p.EntryIds[i], p.Seqs[i], p.PrevHashes[i], p.Hashes[i] = r.ID, seq, prev, hash
			prev = hash
		}
		if err := q.InsertAuditSeals(ctx, p); err != nil {
			return err
		}
		if err := q.DeleteAuditPending(ctx, p.EntryIds); err != nil {
			return err
		}
		n = len(rows)
		return q.AdvanceAuditHead(ctx, gen.AdvanceAuditHeadParams{Seq: seq, Hash: prev})
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
