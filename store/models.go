package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// The GORM models below mirror the tables that the migrations create. They
// stay unexported because callers see only the domain types, and the
// functions that convert between the two live in this file. Column names are
// spelled out so a renamed field cannot silently change the SQL.

type cloudOrganizationRow struct {
	OrgID               string    `gorm:"column:org_id;primaryKey"`
	CloudOrganizationID string    `gorm:"column:cloud_organization_id;primaryKey"`
	CloudProvider       string    `gorm:"column:cloud_provider"`
	EnabledRegions      string    `gorm:"column:enabled_regions"` // JSON array of strings
	CredentialsRef      string    `gorm:"column:credentials_ref"`
	CreatedAt           time.Time `gorm:"column:created_at"`
	UpdatedAt           time.Time `gorm:"column:updated_at"`
}

func (cloudOrganizationRow) TableName() string { return "cloud_organizations" }

type scannerRow struct {
	OrgID               string    `gorm:"column:org_id;primaryKey"`
	ConfigID            string    `gorm:"column:config_id;primaryKey"`
	CloudProvider       string    `gorm:"column:cloud_provider"`
	CloudOrganizationID string    `gorm:"column:cloud_organization_id"`
	Region              string    `gorm:"column:region"`
	WorkersPaused       bool      `gorm:"column:workers_paused"`
	State               string    `gorm:"column:state"`
	LastError           string    `gorm:"column:last_error"`
	Simulate            *string   `gorm:"column:simulate"` // JSON object, NULL when absent
	CreatedAt           time.Time `gorm:"column:created_at"`
	UpdatedAt           time.Time `gorm:"column:updated_at"`
}

func (scannerRow) TableName() string { return "scanner_configs" }

type jobRow struct {
	ID                  string     `gorm:"column:id;primaryKey"`
	Operation           string     `gorm:"column:operation"`
	OrgID               string     `gorm:"column:org_id"`
	ParentID            string     `gorm:"column:parent_id"`
	ConfigID            string     `gorm:"column:config_id"`
	CloudProvider       string     `gorm:"column:cloud_provider"`
	CloudOrganizationID string     `gorm:"column:cloud_organization_id"`
	Region              string     `gorm:"column:region"`
	Status              string     `gorm:"column:status"`
	CurrentStep         string     `gorm:"column:current_step"`
	RetryAttempt        int        `gorm:"column:retry_attempt"`
	Error               string     `gorm:"column:error"`
	Engine              string     `gorm:"column:engine"`
	Submitted           bool       `gorm:"column:submitted"`
	Owner               string     `gorm:"column:owner"`
	LeaseExpiresAt      *time.Time `gorm:"column:lease_expires_at"`
	CreatedAt           time.Time  `gorm:"column:created_at"`
	UpdatedAt           time.Time  `gorm:"column:updated_at"`
}

func (jobRow) TableName() string { return "jobs" }

type operationRow struct {
	OrgID     string    `gorm:"column:org_id;primaryKey"`
	ID        string    `gorm:"column:id;primaryKey"`
	Kind      string    `gorm:"column:kind"`
	CreatedAt time.Time `gorm:"column:created_at"`
}

func (operationRow) TableName() string { return "operations" }

type pendingActionRow struct {
	ID        int64     `gorm:"column:id;primaryKey;autoIncrement"`
	OrgID     string    `gorm:"column:org_id"`
	ConfigID  string    `gorm:"column:config_id"`
	Action    string    `gorm:"column:action"`
	ParentID  string    `gorm:"column:parent_id"`
	CreatedAt time.Time `gorm:"column:created_at"`
	UpdatedAt time.Time `gorm:"column:updated_at"`
}

func (pendingActionRow) TableName() string { return "pending_actions" }

func cloudOrganizationFromRow(row cloudOrganizationRow) (CloudOrganization, error) {
	regions := []string{}
	if row.EnabledRegions != "" {
		if err := json.Unmarshal([]byte(row.EnabledRegions), &regions); err != nil {
			return CloudOrganization{}, fmt.Errorf("decoding enabled_regions of cloud organisation %s/%s: %w",
				row.OrgID, row.CloudOrganizationID, err)
		}
	}
	return CloudOrganization{
		OrgID:               row.OrgID,
		CloudOrganizationID: row.CloudOrganizationID,
		CloudProvider:       row.CloudProvider,
		EnabledRegions:      regions,
		CredentialsRef:      row.CredentialsRef,
		CreatedAt:           row.CreatedAt.UTC(),
		UpdatedAt:           row.UpdatedAt.UTC(),
	}, nil
}

// encodeRegions stores a nil list as "[]" so the column is never NULL.
func encodeRegions(regions []string) (string, error) {
	if regions == nil {
		regions = []string{}
	}
	encoded, err := json.Marshal(regions)
	if err != nil {
		return "", fmt.Errorf("encoding enabled regions: %w", err)
	}
	return string(encoded), nil
}

func scannerFromRow(row scannerRow) (Scanner, error) {
	var simulate *Simulation
	if row.Simulate != nil && *row.Simulate != "" {
		simulate = new(Simulation)
		if err := json.Unmarshal([]byte(*row.Simulate), simulate); err != nil {
			return Scanner{}, fmt.Errorf("decoding simulate of scanner %s/%s: %w", row.OrgID, row.ConfigID, err)
		}
	}
	return Scanner{
		OrgID:               row.OrgID,
		ConfigID:            row.ConfigID,
		CloudProvider:       row.CloudProvider,
		CloudOrganizationID: row.CloudOrganizationID,
		Region:              row.Region,
		WorkersPaused:       row.WorkersPaused,
		State:               ScannerState(row.State),
		LastError:           row.LastError,
		Simulate:            simulate,
		CreatedAt:           row.CreatedAt.UTC(),
		UpdatedAt:           row.UpdatedAt.UTC(),
	}, nil
}

// encodeSimulation returns nil (SQL NULL) for a nil simulation.
func encodeSimulation(simulate *Simulation) (*string, error) {
	if simulate == nil {
		return nil, nil
	}
	encoded, err := json.Marshal(simulate)
	if err != nil {
		return nil, fmt.Errorf("encoding simulation: %w", err)
	}
	text := string(encoded)
	return &text, nil
}

func jobFromRow(row jobRow) Job {
	return Job{
		ID:                  row.ID,
		Operation:           Operation(row.Operation),
		OrgID:               row.OrgID,
		ParentID:            row.ParentID,
		ConfigID:            row.ConfigID,
		CloudProvider:       row.CloudProvider,
		CloudOrganizationID: row.CloudOrganizationID,
		Region:              row.Region,
		Status:              JobStatus(row.Status),
		CurrentStep:         row.CurrentStep,
		RetryAttempt:        row.RetryAttempt,
		Error:               row.Error,
		Engine:              row.Engine,
		Submitted:           row.Submitted,
		Owner:               row.Owner,
		LeaseExpiresAt:      timeOrZero(row.LeaseExpiresAt),
		CreatedAt:           row.CreatedAt.UTC(),
		UpdatedAt:           row.UpdatedAt.UTC(),
	}
}

func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func jobsFromRows(rows []jobRow) []Job {
	jobs := make([]Job, 0, len(rows))
	for _, row := range rows {
		jobs = append(jobs, jobFromRow(row))
	}
	return jobs
}

func jobToRow(job Job) jobRow {
	return jobRow{
		ID:                  job.ID,
		Operation:           string(job.Operation),
		OrgID:               job.OrgID,
		ParentID:            job.ParentID,
		ConfigID:            job.ConfigID,
		CloudProvider:       job.CloudProvider,
		CloudOrganizationID: job.CloudOrganizationID,
		Region:              job.Region,
		Status:              string(job.Status),
		CurrentStep:         job.CurrentStep,
		RetryAttempt:        job.RetryAttempt,
		Error:               job.Error,
		Engine:              job.Engine,
		Submitted:           job.Submitted,
		Owner:               job.Owner,
		LeaseExpiresAt:      leaseOrNil(job.LeaseExpiresAt),
		CreatedAt:           job.CreatedAt,
		UpdatedAt:           job.UpdatedAt,
	}
}

func leaseOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = dbTime(t)
	return &t
}

func pendingActionFromRow(row pendingActionRow) PendingAction {
	return PendingAction{
		ID:        row.ID,
		OrgID:     row.OrgID,
		ConfigID:  row.ConfigID,
		Action:    Operation(row.Action),
		ParentID:  row.ParentID,
		CreatedAt: row.CreatedAt.UTC(),
		UpdatedAt: row.UpdatedAt.UTC(),
	}
}
