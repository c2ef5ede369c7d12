package store

import (
	"context"
	"fmt"

	"gorm.io/gorm/clause"
)

// SeedResult counts what Seed wrote.
type SeedResult struct {
	// Organizations, CloudOrganizations and Scanners count the entries of
	// the fixture, each upserted.
	Organizations      int
	CloudOrganizations int
	Scanners           int
	// Changed counts the cloud organisation and scanner rows inserted or
	// updated; 0 when the database already matched the fixture.
	Changed int
}

// Seed validates f and upserts it in one transaction. Running it twice
// leaves the same rows. A stored value that differs from the fixture is
// updated, and scanners and cloud organisations absent from the fixture are
// left alone. New scanners start in ScannerInstalled, and existing ones keep
// their state and last error.
func (s *Store) Seed(ctx context.Context, f Fixture) (SeedResult, error) {
	if err := f.Validate(); err != nil {
		return SeedResult{}, fmt.Errorf("invalid fixture: %w", err)
	}

	var result SeedResult
	err := s.atomic(ctx, func(q queries) error {
		for _, org := range f.Organizations {
			result.Organizations++
			for _, cloudOrg := range org.CloudOrganizations {
				changed, err := q.upsertCloudOrganization(ctx, org.OrgID, cloudOrg)
				if err != nil {
					return err
				}
				result.CloudOrganizations++
				result.Changed += changed

				for _, scanner := range cloudOrg.Scanners {
					changed, err := q.upsertScanner(ctx, org.OrgID, cloudOrg, scanner)
					if err != nil {
						return err
					}
					result.Scanners++
					result.Changed += changed
				}
			}
		}
		return nil
	})
	if err != nil {
		return SeedResult{}, fmt.Errorf("seeding: %w", err)
	}
	return result, nil
}

// upsertCloudOrganization returns 1 when it inserted or changed the row.
// The DO UPDATE is conditional so an unchanged row keeps its updated_at.
func (q queries) upsertCloudOrganization(ctx context.Context, orgID string, cloudOrg FixtureCloudOrganization) (int, error) {
	regions, err := encodeRegions(cloudOrg.EnabledRegions)
	if err != nil {
		return 0, err
	}
	created := now()
	row := cloudOrganizationRow{
		OrgID:               orgID,
		CloudOrganizationID: cloudOrg.CloudOrganizationID,
		CloudProvider:       cloudOrg.CloudProvider,
		EnabledRegions:      regions,
		CredentialsRef:      cloudOrg.CredentialsRef,
		CreatedAt:           created,
		UpdatedAt:           created,
	}

	result := q.with(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "org_id"}, {Name: "cloud_organization_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"cloud_provider", "enabled_regions", "credentials_ref", "updated_at"}),
		Where: clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: "" +
			"cloud_organizations.cloud_provider <> excluded.cloud_provider OR " +
			"cloud_organizations.enabled_regions <> excluded.enabled_regions OR " +
			"cloud_organizations.credentials_ref <> excluded.credentials_ref"}}},
	}).Create(&row)
	if result.Error != nil {
		return 0, fmt.Errorf("writing cloud organisation %s/%s: %w", orgID, cloudOrg.CloudOrganizationID, result.Error)
	}
	return int(result.RowsAffected), nil
}

// upsertScanner returns 1 when it inserted or changed the row. IS DISTINCT
// FROM compares the nullable simulate column (PostgreSQL, and SQLite since
// 3.39).
func (q queries) upsertScanner(ctx context.Context, orgID string, cloudOrg FixtureCloudOrganization, scanner FixtureScanner) (int, error) {
	simulate, err := encodeSimulation(scanner.Simulate)
	if err != nil {
		return 0, err
	}
	created := now()
	row := scannerRow{
		OrgID:               orgID,
		ConfigID:            scanner.ConfigID,
		CloudProvider:       cloudOrg.CloudProvider,
		CloudOrganizationID: cloudOrg.CloudOrganizationID,
		Region:              scanner.Region,
		WorkersPaused:       scanner.WorkersPaused,
		State:               string(ScannerInstalled),
		Simulate:            simulate,
		CreatedAt:           created,
		UpdatedAt:           created,
	}

	result := q.with(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "org_id"}, {Name: "config_id"}},
		DoUpdates: clause.AssignmentColumns([]string{
			"cloud_provider", "cloud_organization_id", "region", "workers_paused", "simulate", "updated_at",
		}),
		Where: clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: "" +
			"scanner_configs.cloud_provider <> excluded.cloud_provider OR " +
			"scanner_configs.cloud_organization_id <> excluded.cloud_organization_id OR " +
			"scanner_configs.region <> excluded.region OR " +
			"scanner_configs.workers_paused <> excluded.workers_paused OR " +
			"scanner_configs.simulate IS DISTINCT FROM excluded.simulate"}}},
	}).Create(&row)
	if result.Error != nil {
		return 0, fmt.Errorf("writing scanner %s/%s: %w", orgID, scanner.ConfigID, result.Error)
	}
	return int(result.RowsAffected), nil
}
