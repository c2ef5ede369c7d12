package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// enqueueAttempts bounds the insert-or-read loop of EnqueueAction. A second
// attempt is needed only when another transaction takes the queued row
// between the insert that found it and the read. A third needs that twice.
const enqueueAttempts = 3

// EnqueueAction queues an action for a scanner configuration, upserting on
// (org id, config id). With no queued action it inserts a (coalesced false).
// Otherwise coalesced is true and the queued row changes as follows:
//   - the same action keeps the row, and takes a's parent id if the row had
//     none;
//   - remove replaces any other action and its parent id;
//   - a reinstall or uninstall never replaces a queued remove;
//   - between reinstall and uninstall, the later request replaces the action
//     and the parent id.
//
// The insert uses ON CONFLICT DO NOTHING and the read locks the row, so
// concurrent callers on one configuration always end with one row.
func (q queries) EnqueueAction(ctx context.Context, a PendingAction) (stored PendingAction, coalesced bool, err error) {
	res, err := q.QueueAction(ctx, a)
	return res.Stored, res.Coalesced, err
}

// EnqueueResult is the outcome of QueueAction.
type EnqueueResult struct {
	// Stored is the queued row after the call.
	Stored PendingAction
	// Coalesced is true when a row was already queued for the config.
	Coalesced bool
	// Replaced is the queued row as it was before this call changed its
	// action or parent id. It is nil when the call inserted a row or left
	// the queued one as it was.
	Replaced *PendingAction
}

// QueueAction is EnqueueAction that also returns the row it replaced, so
// that the caller can report the superseded request to its parent.
func (q queries) QueueAction(ctx context.Context, a PendingAction) (EnqueueResult, error) {
	switch {
	case a.OrgID == "" || a.ConfigID == "":
		return EnqueueResult{}, fmt.Errorf("queueing %s action: the org id and config id are required", a.Action)
	case a.Action != OperationRemove && a.Action != OperationReinstall && a.Action != OperationUninstall:
		return EnqueueResult{}, fmt.Errorf("queueing action for scanner %s/%s: invalid action %q (expected remove, reinstall or uninstall)",
			a.OrgID, a.ConfigID, a.Action)
	}

	for range enqueueAttempts {
		var res EnqueueResult
		var found bool
		err := q.atomic(ctx, func(q queries) error {
			var err error
			res, found, err = q.enqueueOnce(ctx, a)
			return err
		})
		if err != nil || found {
			return res, err
		}
	}
	return EnqueueResult{}, fmt.Errorf("queueing %s action for scanner %s/%s: the queued row kept disappearing: %w",
		a.Action, a.OrgID, a.ConfigID, ErrConflict)
}

// enqueueOnce inserts a or coalesces it into the queued row. found is false
// when the insert hit a row that was gone by the time it was read.
func (q queries) enqueueOnce(ctx context.Context, a PendingAction) (res EnqueueResult, found bool, err error) {
	created := now()
	row := pendingActionRow{
		OrgID:     a.OrgID,
		ConfigID:  a.ConfigID,
		Action:    string(a.Action),
		ParentID:  a.ParentID,
		CreatedAt: created,
		UpdatedAt: created,
	}
	result := q.with(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "org_id"}, {Name: "config_id"}},
		DoNothing: true,
	}).Create(&row)
	if result.Error != nil {
		return EnqueueResult{}, false, fmt.Errorf("queueing %s action for scanner %s/%s: %w",
			a.Action, a.OrgID, a.ConfigID, result.Error)
	}
	if result.RowsAffected > 0 {
		return EnqueueResult{Stored: pendingActionFromRow(row)}, true, nil
	}

	var queued pendingActionRow
	err = q.with(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).
		Where("org_id = ? AND config_id = ?", a.OrgID, a.ConfigID).Take(&queued).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return EnqueueResult{}, false, nil
	}
	if err != nil {
		return EnqueueResult{}, false, fmt.Errorf("reading queued action of scanner %s/%s: %w", a.OrgID, a.ConfigID, err)
	}

	action, parentID := coalesceAction(Operation(queued.Action), queued.ParentID, a)
	if string(action) == queued.Action && parentID == queued.ParentID {
		return EnqueueResult{Stored: pendingActionFromRow(queued), Coalesced: true}, true, nil
	}
	replaced := pendingActionFromRow(queued)
	queued.Action = string(action)
	queued.ParentID = parentID
	queued.UpdatedAt = now()
	err = q.with(ctx).Model(&pendingActionRow{}).Where("id = ?", queued.ID).
		Updates(map[string]any{"action": queued.Action, "parent_id": queued.ParentID, "updated_at": queued.UpdatedAt}).Error
	if err != nil {
		return EnqueueResult{}, false, fmt.Errorf("updating queued action of scanner %s/%s: %w", a.OrgID, a.ConfigID, err)
	}
	return EnqueueResult{Stored: pendingActionFromRow(queued), Coalesced: true, Replaced: &replaced}, true, nil
}

// coalesceAction returns the action and parent id a queued row holds after
// request arrives; see EnqueueAction for the rules.
func coalesceAction(queued Operation, queuedParent string, request PendingAction) (Operation, string) {
	switch {
	case request.Action == queued:
		if queuedParent == "" {
			return queued, request.ParentID
		}
		return queued, queuedParent
	case queued == OperationRemove:
		return queued, queuedParent
	default:
		// request is a remove, or the other one of reinstall and uninstall.
		return request.Action, request.ParentID
	}
}

// TakePendingAction deletes and returns the queued action of a scanner
// configuration; found is false when none is queued. One DELETE ...
// RETURNING does both, so two concurrent callers never take the same action.
func (q queries) TakePendingAction(ctx context.Context, orgID, configID string) (action PendingAction, found bool, err error) {
	var rows []pendingActionRow
	err = q.with(ctx).Clauses(clause.Returning{}).
		Where("org_id = ? AND config_id = ?", orgID, configID).Delete(&rows).Error
	if err != nil {
		return PendingAction{}, false, fmt.Errorf("taking queued action of scanner %s/%s: %w", orgID, configID, err)
	}
	if len(rows) == 0 {
		return PendingAction{}, false, nil
	}
	return pendingActionFromRow(rows[0]), true, nil
}

// CountPendingByParent counts the queued actions that carry parentID, the
// children of a batch that have no job yet.
func (q queries) CountPendingByParent(ctx context.Context, orgID, parentID string) (int, error) {
	var count int64
	err := q.with(ctx).Model(&pendingActionRow{}).Where("org_id = ? AND parent_id = ?", orgID, parentID).
		Count(&count).Error
	if err != nil {
		return 0, fmt.Errorf("counting queued actions of parent %s: %w", parentID, err)
	}
	return int(count), nil
}

// ListPendingActions returns the queued actions of every organisation, oldest
// first, at most limit of them (0 means all).
func (q queries) ListPendingActions(ctx context.Context, limit int) ([]PendingAction, error) {
	query := q.with(ctx).Order("created_at, id")
	if limit > 0 {
		query = query.Limit(limit)
	}
	var rows []pendingActionRow
	if err := query.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("listing queued actions: %w", err)
	}

	actions := make([]PendingAction, 0, len(rows))
	for _, row := range rows {
		actions = append(actions, pendingActionFromRow(row))
	}
	return actions, nil
}

// DeletePendingAction deletes the queued action with this id.
func (q queries) DeletePendingAction(ctx context.Context, id int64) error {
	result := q.with(ctx).Where("id = ?", id).Delete(&pendingActionRow{})
	if result.Error != nil {
		return fmt.Errorf("deleting queued action %d: %w", id, result.Error)
	}
	if result.RowsAffected == 0 {
		return fmt.Errorf("deleting queued action %d: %w", id, ErrNotFound)
	}
	return nil
}
