package store

import (
	"context"
	"fmt"
)

// ActiveOrgRemoval returns the unfinished removal job of a cloud
// organisation, if there is one.
func (q queries) ActiveOrgRemoval(ctx context.Context, orgID, cloudOrgID string) (job Job, found bool, err error) {
	var rows []jobRow
	err = q.with(ctx).
		Where("org_id = ? AND cloud_organization_id = ? AND operation = ? AND status IN ?",
			orgID, cloudOrgID, string(OperationRemoveOrg), activeStatuses).
		Order("created_at DESC, id DESC").Limit(1).
		Find(&rows).Error
	if err != nil {
		return Job{}, false, fmt.Errorf("reading active removal of cloud organization %s/%s: %w", orgID, cloudOrgID, err)
	}
	if len(rows) == 0 {
		return Job{}, false, nil
	}
	return jobFromRow(rows[0]), true, nil
}

// CountPendingForConfig returns how many actions are queued for a config:
// 0 or 1, since queued actions of one config coalesce.
func (q queries) CountPendingForConfig(ctx context.Context, orgID, configID string) (int, error) {
	var count int64
	err := q.with(ctx).Model(&pendingActionRow{}).Where("org_id = ? AND config_id = ?", orgID, configID).
		Count(&count).Error
	if err != nil {
		return 0, fmt.Errorf("counting queued actions of scanner %s/%s: %w", orgID, configID, err)
	}
	return int(count), nil
}
