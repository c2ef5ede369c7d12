package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// GetCloudOrganization returns the cloud organisation cloudOrgID of orgID.
func (q queries) GetCloudOrganization(ctx context.Context, orgID, cloudOrgID string) (CloudOrganization, error) {
	var row cloudOrganizationRow
	err := q.with(ctx).Where("org_id = ? AND cloud_organization_id = ?", orgID, cloudOrgID).Take(&row).Error
	if err != nil {
		return CloudOrganization{}, cloudOrganizationReadError(orgID, cloudOrgID, err)
	}
	return cloudOrganizationFromRow(row)
}

func cloudOrganizationReadError(orgID, cloudOrgID string, err error) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		err = ErrNotFound
	}
	return fmt.Errorf("reading cloud organisation %s/%s: %w", orgID, cloudOrgID, err)
}

// ListCloudOrganizations returns the cloud organisations of orgID ordered by
// cloud organisation id. An empty provider lists every provider.
func (q queries) ListCloudOrganizations(ctx context.Context, orgID, provider string) ([]CloudOrganization, error) {
	query := q.with(ctx).Where("org_id = ?", orgID)
	if provider != "" {
		query = query.Where("cloud_provider = ?", provider)
	}

	var rows []cloudOrganizationRow
	if err := query.Order("cloud_organization_id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("listing cloud organisations of %s: %w", orgID, err)
	}

	orgs := make([]CloudOrganization, 0, len(rows))
	for _, row := range rows {
		org, err := cloudOrganizationFromRow(row)
		if err != nil {
			return nil, err
		}
		orgs = append(orgs, org)
	}
	return orgs, nil
}

// DeleteCloudOrganization deletes a cloud organisation, and with its row the
// credentials reference stored in it. It fails with ErrConflict while the
// cloud organisation still has scanner configurations.
func (q queries) DeleteCloudOrganization(ctx context.Context, orgID, cloudOrgID string) error {
	return q.atomic(ctx, func(q queries) error {
		var row cloudOrganizationRow
		err := q.with(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).
			Where("org_id = ? AND cloud_organization_id = ?", orgID, cloudOrgID).
			Take(&row).Error
		if err != nil {
			return cloudOrganizationReadError(orgID, cloudOrgID, err)
		}

		var scanners int64
		err = q.with(ctx).Model(&scannerRow{}).
			Where("org_id = ? AND cloud_organization_id = ?", orgID, cloudOrgID).
			Count(&scanners).Error
		if err != nil {
			return fmt.Errorf("counting scanners of cloud organisation %s/%s: %w", orgID, cloudOrgID, err)
		}
		if scanners > 0 {
			return fmt.Errorf("deleting cloud organisation %s/%s: it still has %d scanner configurations: %w",
				orgID, cloudOrgID, scanners, ErrConflict)
		}

		err = q.with(ctx).Where("org_id = ? AND cloud_organization_id = ?", orgID, cloudOrgID).
			Delete(&cloudOrganizationRow{}).Error
		if isForeignKeyViolation(err) {
			// A scanner was added after the count; the foreign key caught it.
			return fmt.Errorf("deleting cloud organisation %s/%s: a scanner configuration was added: %w",
				orgID, cloudOrgID, ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("deleting cloud organisation %s/%s: %w", orgID, cloudOrgID, err)
		}
		return nil
	})
}
