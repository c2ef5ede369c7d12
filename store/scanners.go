package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// GetScanner returns the scanner configuration configID of orgID.
func (q queries) GetScanner(ctx context.Context, orgID, configID string) (Scanner, error) {
	row, err := q.findScanner(ctx, orgID, configID)
	if err != nil {
		return Scanner{}, err
	}
	return scannerFromRow(row)
}

func (q queries) findScanner(ctx context.Context, orgID, configID string) (scannerRow, error) {
	var row scannerRow
	err := q.with(ctx).Where("org_id = ? AND config_id = ?", orgID, configID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return scannerRow{}, fmt.Errorf("reading scanner %s/%s: %w", orgID, configID, ErrNotFound)
	}
	if err != nil {
		return scannerRow{}, fmt.Errorf("reading scanner %s/%s: %w", orgID, configID, err)
	}
	return row, nil
}

// ListScanners returns the scanner configurations of orgID that match f,
// ordered by config id.
func (q queries) ListScanners(ctx context.Context, orgID string, f ScannerFilter) ([]Scanner, error) {
	query := q.with(ctx).Where("org_id = ?", orgID)
	if f.CloudProvider != "" {
		query = query.Where("cloud_provider = ?", f.CloudProvider)
	}
	if f.CloudOrganizationID != "" {
		query = query.Where("cloud_organization_id = ?", f.CloudOrganizationID)
	}
	if f.Region != "" {
		query = query.Where("region = ?", f.Region)
	}
	if f.After != "" {
		query = query.Where("config_id > ?", f.After)
	}
	if f.Limit > 0 {
		query = query.Limit(f.Limit)
	}

	var rows []scannerRow
	if err := query.Order("config_id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("listing scanners of %s: %w", orgID, err)
	}

	scanners := make([]Scanner, 0, len(rows))
	for _, row := range rows {
		scanner, err := scannerFromRow(row)
		if err != nil {
			return nil, err
		}
		scanners = append(scanners, scanner)
	}
	return scanners, nil
}

// SetWorkersPaused sets whether the scanner's workers are paused. It returns
// the scanner as this call left it, and whether this call made the change.
// The row stays locked from the read to the returned value (SELECT ... FOR
// UPDATE on PostgreSQL, the single connection on SQLite), so concurrent
// callers each report the state they wrote.
func (q queries) SetWorkersPaused(ctx context.Context, orgID, configID string, paused bool) (Scanner, bool, error) {
	var scanner Scanner
	var changed bool
	err := q.atomic(ctx, func(q queries) error {
		var row scannerRow
		err := q.with(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).
			Where("org_id = ? AND config_id = ?", orgID, configID).Take(&row).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return fmt.Errorf("reading scanner %s/%s: %w", orgID, configID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("reading scanner %s/%s: %w", orgID, configID, err)
		}

		if row.WorkersPaused != paused {
			updatedAt := now()
			err := q.with(ctx).Model(&scannerRow{}).
				Where("org_id = ? AND config_id = ?", orgID, configID).
				Updates(map[string]any{"workers_paused": paused, "updated_at": updatedAt}).Error
			if err != nil {
				return fmt.Errorf("setting workers paused=%t on scanner %s/%s: %w", paused, orgID, configID, err)
			}
			row.WorkersPaused, row.UpdatedAt, changed = paused, updatedAt, true
		}

		scanner, err = scannerFromRow(row)
		return err
	})
	if err != nil {
		return Scanner{}, false, err
	}
	return scanner, changed, nil
}

// DisableRegion removes the scanner's region from the enabled regions of its
// cloud organisation. It reads the scanner and locks the cloud organisation
// row in one transaction (SELECT ... FOR UPDATE on PostgreSQL; SQLite's
// single connection serialises), so concurrent disables of different regions
// of one cloud organisation all persist. The scanner row is not changed.
func (q queries) DisableRegion(ctx context.Context, orgID, configID string) (RegionChange, error) {
	var change RegionChange
	err := q.atomic(ctx, func(q queries) error {
		scanner, err := q.findScanner(ctx, orgID, configID)
		if err != nil {
			return err
		}
		change.Region = scanner.Region
		change.CloudOrganizationID = scanner.CloudOrganizationID

		var org cloudOrganizationRow
		err = q.with(ctx).Clauses(clause.Locking{Strength: "UPDATE"}).
			Where("org_id = ? AND cloud_organization_id = ?", orgID, scanner.CloudOrganizationID).
			Take(&org).Error
		if err != nil {
			return cloudOrganizationReadError(orgID, scanner.CloudOrganizationID, err)
		}
		decoded, err := cloudOrganizationFromRow(org)
		if err != nil {
			return err
		}

		remaining := slices.DeleteFunc(slices.Clone(decoded.EnabledRegions), func(region string) bool {
			return region == scanner.Region
		})
		if len(remaining) == len(decoded.EnabledRegions) {
			return nil
		}
		encoded, err := encodeRegions(remaining)
		if err != nil {
			return err
		}
		err = q.with(ctx).Model(&cloudOrganizationRow{}).
			Where("org_id = ? AND cloud_organization_id = ?", orgID, scanner.CloudOrganizationID).
			Updates(map[string]any{"enabled_regions": encoded, "updated_at": now()}).Error
		if err != nil {
			return fmt.Errorf("updating enabled regions of cloud organisation %s/%s: %w",
				orgID, scanner.CloudOrganizationID, err)
		}
		change.Changed = true
		return nil
	})
	if err != nil {
		return RegionChange{}, fmt.Errorf("disabling region of scanner %s/%s: %w", orgID, configID, err)
	}
	return change, nil
}

// SetScannerState stores the lifecycle state of a scanner configuration and
// the message of its last failure (empty to clear it).
func (q queries) SetScannerState(ctx context.Context, orgID, configID string, state ScannerState, lastError string) error {
	if !state.Valid() {
		return fmt.Errorf("setting state of scanner %s/%s: invalid state %q", orgID, configID, state)
	}

	result := q.with(ctx).Model(&scannerRow{}).
		Where("org_id = ? AND config_id = ?", orgID, configID).
		Updates(map[string]any{"state": string(state), "last_error": lastError, "updated_at": now()})
	if result.Error != nil {
		return fmt.Errorf("setting state of scanner %s/%s: %w", orgID, configID, result.Error)
	}
	if result.RowsAffected == 0 {
		return fmt.Errorf("setting state of scanner %s/%s: %w", orgID, configID, ErrNotFound)
	}
	return nil
}

// DeleteScanner deletes a scanner configuration. Its jobs and any queued
// action stay.
func (q queries) DeleteScanner(ctx context.Context, orgID, configID string) error {
	result := q.with(ctx).Where("org_id = ? AND config_id = ?", orgID, configID).Delete(&scannerRow{})
	if result.Error != nil {
		return fmt.Errorf("deleting scanner %s/%s: %w", orgID, configID, result.Error)
	}
	if result.RowsAffected == 0 {
		return fmt.Errorf("deleting scanner %s/%s: %w", orgID, configID, ErrNotFound)
	}
	return nil
}
