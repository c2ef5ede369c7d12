package store

import (
	"context"
	"fmt"
	"time"
)

// JobStats are the totals behind the service's job and queue metrics.
type JobStats struct {
	ByStatus      map[JobStatus]int
	QueuedActions int
	// OldestUnfinished is the creation time of the oldest pending or
	// running job; zero when there is none.
	OldestUnfinished time.Time
}

// JobStats counts jobs by status and queued actions, and finds the oldest
// unfinished job.
func (q queries) JobStats(ctx context.Context) (JobStats, error) {
	stats := JobStats{ByStatus: map[JobStatus]int{}}

	var counts []struct {
		Status string
		Count  int
	}
	err := q.with(ctx).Model(&jobRow{}).Select("status, COUNT(*) AS count").Group("status").Scan(&counts).Error
	if err != nil {
		return JobStats{}, fmt.Errorf("counting jobs by status: %w", err)
	}
	for _, c := range counts {
		stats.ByStatus[JobStatus(c.Status)] = c.Count
	}

	var queued int64
	if err := q.with(ctx).Model(&pendingActionRow{}).Count(&queued).Error; err != nil {
		return JobStats{}, fmt.Errorf("counting queued actions: %w", err)
	}
	stats.QueuedActions = int(queued)

	var oldest []jobRow
	err = q.with(ctx).Where("status IN ?", activeStatuses).Order("created_at").Limit(1).Find(&oldest).Error
	if err != nil {
		return JobStats{}, fmt.Errorf("reading the oldest unfinished job: %w", err)
	}
	if len(oldest) == 1 {
		stats.OldestUnfinished = oldest[0].CreatedAt.UTC()
	}
	return stats, nil
}
