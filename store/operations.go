package store

import (
	"context"
	"fmt"
)

// CreateParentOperation records a correlation id issued to an organisation.
// A zero CreatedAt becomes the current time; an id the organisation already
// has fails with ErrAlreadyExists.
func (q queries) CreateParentOperation(ctx context.Context, op ParentOperation) error {
	if op.ID == "" || op.OrgID == "" {
		return fmt.Errorf("creating parent operation %q of org %q: the id and org id are required", op.ID, op.OrgID)
	}
	created := op.CreatedAt
	if created.IsZero() {
		created = now()
	}

	row := operationRow{OrgID: op.OrgID, ID: op.ID, Kind: op.Kind, CreatedAt: dbTime(created)}
	err := q.with(ctx).Create(&row).Error
	if isDuplicateKey(err) {
		return fmt.Errorf("creating parent operation %s: %w", op.ID, ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("creating parent operation %s: %w", op.ID, err)
	}
	return nil
}

// ParentOperationExists reports whether orgID was issued the correlation id.
func (q queries) ParentOperationExists(ctx context.Context, orgID, id string) (bool, error) {
	var count int64
	err := q.with(ctx).Model(&operationRow{}).Where("org_id = ? AND id = ?", orgID, id).Count(&count).Error
	if err != nil {
		return false, fmt.Errorf("reading parent operation %s: %w", id, err)
	}
	return count > 0, nil
}
