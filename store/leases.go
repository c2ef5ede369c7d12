package store

import (
	"context"
	"fmt"
	"time"
)

// ClaimJob makes owner the owner of an unfinished job until `until`, when
// the job has no owner, is already owner's, or its owner's lease expired
// before now. It returns whether the claim succeeded. The check and the
// write are one UPDATE, so when replicas race for an orphaned job exactly
// one of them wins.
func (q queries) ClaimJob(ctx context.Context, id, owner string, now, until time.Time) (bool, error) {
	res := q.with(ctx).Model(&jobRow{}).
		Where("id = ? AND status NOT IN ?", id, terminalStatuses).
		Where("owner = ? OR owner = '' OR lease_expires_at IS NULL OR lease_expires_at < ?", owner, dbTime(now)).
		Updates(map[string]any{"owner": owner, "lease_expires_at": dbTime(until)})
	if res.Error != nil {
		return false, fmt.Errorf("claiming job %s for %s: %w", id, owner, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// RenewLeases extends to `until` the lease of every unfinished job owner
// owns, and returns how many it extended.
func (q queries) RenewLeases(ctx context.Context, owner string, until time.Time) (int, error) {
	res := q.with(ctx).Model(&jobRow{}).
		Where("owner = ? AND status NOT IN ?", owner, terminalStatuses).
		Update("lease_expires_at", dbTime(until))
	if res.Error != nil {
		return 0, fmt.Errorf("renewing the job leases of %s: %w", owner, res.Error)
	}
	return int(res.RowsAffected), nil
}

// ReleaseLeases ends the leases of owner's unfinished jobs, so that other
// replicas take them over at once; a replica calls it when it shuts down.
func (q queries) ReleaseLeases(ctx context.Context, owner string) (int, error) {
	res := q.with(ctx).Model(&jobRow{}).
		Where("owner = ? AND status NOT IN ?", owner, terminalStatuses).
		Update("lease_expires_at", nil)
	if res.Error != nil {
		return 0, fmt.Errorf("releasing the job leases of %s: %w", owner, res.Error)
	}
	return int(res.RowsAffected), nil
}
