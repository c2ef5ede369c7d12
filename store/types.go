package store

import "time"

// ScannerState is the lifecycle state of a scanner configuration.
type ScannerState string

// Scanner states. A scanner is created installed; the workflow effects move it
// through the transitional states to its final one.
const (
	ScannerInstalled    ScannerState = "installed"
	ScannerReinstalling ScannerState = "reinstalling"
	ScannerUninstalling ScannerState = "uninstalling"
	ScannerUninstalled  ScannerState = "uninstalled"
	ScannerRemoving     ScannerState = "removing"
	ScannerFailed       ScannerState = "failed"
)

// Valid reports whether s is one of the ScannerState constants.
func (s ScannerState) Valid() bool {
	switch s {
	case ScannerInstalled, ScannerReinstalling, ScannerUninstalling,
		ScannerUninstalled, ScannerRemoving, ScannerFailed:
		return true
	}
	return false
}

// JobStatus is the status of a job, with the values the API reports.
type JobStatus string

// Job statuses. Pending and running are active; succeeded and failed are
// terminal and never change again.
const (
	JobPending   JobStatus = "pending"
	JobRunning   JobStatus = "running"
	JobSucceeded JobStatus = "succeeded"
	JobFailed    JobStatus = "failed"
)

// activeStatuses lists the non-terminal statuses, for IN (...) conditions.
var activeStatuses = []string{string(JobPending), string(JobRunning)}

// terminalStatuses lists the terminal statuses, for NOT IN (...) conditions.
var terminalStatuses = []string{string(JobSucceeded), string(JobFailed)}

// Terminal reports whether the status is final (succeeded or failed).
func (s JobStatus) Terminal() bool {
	return s == JobSucceeded || s == JobFailed
}

// Valid reports whether s is one of the JobStatus constants.
func (s JobStatus) Valid() bool {
	switch s {
	case JobPending, JobRunning, JobSucceeded, JobFailed:
		return true
	}
	return false
}

// Operation is the kind of change a job or a pending action makes to a
// scanner or a cloud organisation.
type Operation string

// Operations. Remove, reinstall and uninstall act on one scanner
// configuration; remove-org removes every scanner of a cloud organisation and
// then its credentials.
const (
	OperationRemove    Operation = "remove"
	OperationReinstall Operation = "reinstall"
	OperationUninstall Operation = "uninstall"
	OperationRemoveOrg Operation = "remove-org"
)

// Valid reports whether o is one of the Operation constants.
func (o Operation) Valid() bool {
	switch o {
	case OperationRemove, OperationReinstall, OperationUninstall, OperationRemoveOrg:
		return true
	}
	return false
}

// CloudOrganization is a customer's cloud organisation (an AWS Organization,
// an Azure tenant, a GCP organization or an Oracle tenancy).
type CloudOrganization struct {
	OrgID               string
	CloudOrganizationID string
	// CloudProvider is one of CloudProviders.
	CloudProvider string
	// EnabledRegions lists the regions scanners may run in, in stored order.
	EnabledRegions []string
	// CredentialsRef names the stored credentials of the cloud organisation;
	// empty when none are recorded.
	CredentialsRef string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Simulation injects failures into the in-process workflow engine: the step
// FailAtStep fails Failures times before it succeeds.
type Simulation struct {
	FailAtStep string `json:"failAtStep"`
	// Failures is the number of times the step fails before it succeeds.
	// DecodeFixture and Seed reject negative values.
	Failures int `json:"failures"`
}

// Scanner is one scanner configuration, deployed in one region of one cloud
// organisation.
type Scanner struct {
	OrgID               string
	ConfigID            string
	CloudProvider       string
	CloudOrganizationID string
	Region              string
	WorkersPaused       bool
	State               ScannerState
	// LastError is the message of the last failed workflow; empty otherwise.
	LastError string
	// Simulate is nil unless the fixture asked for failure injection.
	Simulate  *Simulation
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ScannerFilter narrows ListScanners. Empty string fields match any value.
type ScannerFilter struct {
	CloudProvider       string
	CloudOrganizationID string
	Region              string
	// After is a config id cursor: only scanners with a greater config id
	// are listed.
	After string
	// Limit is the maximum number of scanners returned; 0 means no limit.
	Limit int
}

// RegionChange is the result of DisableRegion.
type RegionChange struct {
	Region              string
	CloudOrganizationID string
	// Changed is false when the region was already absent from the cloud
	// organisation's enabled regions.
	Changed bool
}

// Job is one workflow run (its ID is the workflow name) or a parent job such
// as remove-org.
type Job struct {
	ID        string
	Operation Operation
	OrgID     string
	// ParentID is the correlation id of the batch or remove-org job that
	// created this job; empty for a job of its own.
	ParentID            string
	ConfigID            string
	CloudProvider       string
	CloudOrganizationID string
	Region              string
	// Status is JobPending when a zero value is passed to CreateJob.
	Status      JobStatus
	CurrentStep string
	// RetryAttempt counts the retries of the current step, 0 on the first try.
	RetryAttempt int
	Error        string
	// Engine names the workflow engine that runs the job ("local", "argo").
	Engine string
	// Submitted records that the engine accepted the workflow. The job row
	// is written before the engine is called, so an unsubmitted active job
	// older than a few seconds is one whose submission must be retried.
	Submitted bool
	// Owner is the replica whose in-process engine runs the workflow.
	// LeaseExpiresAt is the time until which that replica counts as alive.
	// Both are empty for jobs that no replica owns.
	Owner          string
	LeaseExpiresAt time.Time
	// CreatedAt is set to the current time when zero on creation.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// JobProgress is the engine-reported state copied into a job row.
type JobProgress struct {
	Status       JobStatus
	CurrentStep  string
	RetryAttempt int
	Error        string
}

// JobCounts counts jobs by status.
type JobCounts struct {
	Total     int
	Pending   int
	Running   int
	Succeeded int
	Failed    int
}

// CountJobs counts jobs by status. A job with an unknown status counts only
// in Total.
func CountJobs(jobs []Job) JobCounts {
	var counts JobCounts
	for _, job := range jobs {
		counts.add(job.Status, 1)
	}
	return counts
}

func (c *JobCounts) add(status JobStatus, n int) {
	c.Total += n
	switch status {
	case JobPending:
		c.Pending += n
	case JobRunning:
		c.Running += n
	case JobSucceeded:
		c.Succeeded += n
	case JobFailed:
		c.Failed += n
	}
}

// ParentOperation is a correlation id issued to an organisation: a batch
// remove or reinstall, a cloud provider removal, or a remove-org job. Its row
// distinguishes an unknown parent id from a known one with no child job yet.
type ParentOperation struct {
	ID    string
	OrgID string
	// Kind describes the operation, for example "batch-remove"; the store
	// does not interpret it.
	Kind      string
	CreatedAt time.Time
}

// PendingAction is an action queued for a scanner configuration until the
// workflow running on it ends. There is at most one per configuration.
type PendingAction struct {
	ID       int64
	OrgID    string
	ConfigID string
	// Action is OperationRemove, OperationReinstall or OperationUninstall.
	Action Operation
	// ParentID is the correlation id of the request that queued the action;
	// empty for a single request.
	ParentID  string
	CreatedAt time.Time
	UpdatedAt time.Time
}
