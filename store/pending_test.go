package store_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scanner-ops/onboarding-service/store"
)

func TestEnqueueActionCoalescing(t *testing.T) {
	t.Parallel()
	type request struct {
		action   store.Operation
		parentID string
	}
	tests := []struct {
		name       string
		queued     request
		request    request
		wantAction store.Operation
		wantParent string
	}{
		{"same action keeps the row", request{store.OperationReinstall, "p1"}, request{store.OperationReinstall, "p2"},
			store.OperationReinstall, "p1"},
		{"same action fills a missing parent", request{store.OperationUninstall, ""}, request{store.OperationUninstall, "p2"},
			store.OperationUninstall, "p2"},
		{"remove replaces reinstall", request{store.OperationReinstall, "p1"}, request{store.OperationRemove, "p2"},
			store.OperationRemove, "p2"},
		{"remove replaces uninstall", request{store.OperationUninstall, "p1"}, request{store.OperationRemove, ""},
			store.OperationRemove, ""},
		{"reinstall never replaces remove", request{store.OperationRemove, "p1"}, request{store.OperationReinstall, "p2"},
			store.OperationRemove, "p1"},
		{"uninstall never replaces remove", request{store.OperationRemove, ""}, request{store.OperationUninstall, "p2"},
			store.OperationRemove, ""},
		{"uninstall replaces reinstall", request{store.OperationReinstall, "p1"}, request{store.OperationUninstall, "p2"},
			store.OperationUninstall, "p2"},
		{"reinstall replaces uninstall", request{store.OperationUninstall, "p1"}, request{store.OperationReinstall, ""},
			store.OperationReinstall, ""},
	}

	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		for _, tt := range tests {
			configID := "cfg-" + string(tt.queued.action) + "-" + string(tt.request.action) + "-" + tt.request.parentID
			first, coalesced, err := s.EnqueueAction(ctx, store.PendingAction{
				OrgID: orgA, ConfigID: configID, Action: tt.queued.action, ParentID: tt.queued.parentID,
			})
			if err != nil || coalesced || first.ID == 0 {
				t.Fatalf("%s: first EnqueueAction = (%+v, coalesced %t, %v), want a new row", tt.name, first, coalesced, err)
			}

			stored, coalesced, err := s.EnqueueAction(ctx, store.PendingAction{
				OrgID: orgA, ConfigID: configID, Action: tt.request.action, ParentID: tt.request.parentID,
			})
			if err != nil || !coalesced {
				t.Errorf("%s: second EnqueueAction = (coalesced %t, %v), want coalesced", tt.name, coalesced, err)
				continue
			}
			if stored.ID != first.ID || stored.Action != tt.wantAction || stored.ParentID != tt.wantParent {
				t.Errorf("%s: stored = (id %d, %s, %q), want (id %d, %s, %q)", tt.name,
					stored.ID, stored.Action, stored.ParentID, first.ID, tt.wantAction, tt.wantParent)
			}

			taken, found, err := s.TakePendingAction(ctx, orgA, configID)
			if err != nil || !found || taken.Action != tt.wantAction || taken.ParentID != tt.wantParent {
				t.Errorf("%s: TakePendingAction = (%+v, %t, %v), want %s of %q", tt.name, taken, found, err,
					tt.wantAction, tt.wantParent)
			}
		}
	})
}

func TestEnqueueActionConcurrent(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		const callers = 50
		var inserted atomic.Int32
		runConcurrently(callers, func(i int) {
			action := store.OperationReinstall
			if i%5 == 0 {
				action = store.OperationUninstall
			}
			_, coalesced, err := s.EnqueueAction(ctx, store.PendingAction{OrgID: orgA, ConfigID: configEast, Action: action})
			if err != nil {
				t.Errorf("EnqueueAction %d: %v", i, err)
			}
			if !coalesced {
				inserted.Add(1)
			}
		})
		if inserted.Load() != 1 {
			t.Errorf("%d calls inserted a row, want 1", inserted.Load())
		}
		actions, err := s.ListPendingActions(ctx, 0)
		if err != nil || len(actions) != 1 {
			t.Fatalf("ListPendingActions = (%+v, %v), want one row", actions, err)
		}

		// A remove among concurrent reinstalls always wins.
		runConcurrently(callers, func(i int) {
			action := store.OperationReinstall
			if i == callers/2 {
				action = store.OperationRemove
			}
			if _, _, err := s.EnqueueAction(ctx, store.PendingAction{OrgID: orgA, ConfigID: configEast, Action: action}); err != nil {
				t.Errorf("EnqueueAction %d: %v", i, err)
			}
		})
		taken, found, err := s.TakePendingAction(ctx, orgA, configEast)
		if err != nil || !found || taken.Action != store.OperationRemove {
			t.Errorf("after a concurrent remove the queued action = (%+v, %t, %v), want remove", taken, found, err)
		}
	})
}

func TestPendingActions(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		enqueue := func(orgID, configID, parentID string) store.PendingAction {
			t.Helper()
			stored, _, err := s.EnqueueAction(ctx, store.PendingAction{
				OrgID: orgID, ConfigID: configID, Action: store.OperationReinstall, ParentID: parentID,
			})
			if err != nil {
				t.Fatalf("EnqueueAction(%s/%s): %v", orgID, configID, err)
			}
			return stored
		}
		first := enqueue(orgA, configEast, "ri-batch")
		second := enqueue(orgA, configWest, "ri-batch")
		third := enqueue(orgB, configEast, "ri-batch")

		if first.CreatedAt.IsZero() || time.Since(first.CreatedAt) > time.Minute {
			t.Errorf("CreatedAt = %v, want about now", first.CreatedAt)
		}
		count, err := s.CountPendingByParent(ctx, orgA, "ri-batch")
		if err != nil || count != 2 {
			t.Errorf("CountPendingByParent = (%d, %v), want 2 in orgA", count, err)
		}
		for _, tt := range []struct {
			orgID, configID string
			want            int
		}{{orgA, configEast, 1}, {orgB, configWest, 0}, {orgA, "cfg-idle", 0}} {
			count, err := s.CountPendingForConfig(ctx, tt.orgID, tt.configID)
			if err != nil || count != tt.want {
				t.Errorf("CountPendingForConfig(%s/%s) = (%d, %v), want %d", tt.orgID, tt.configID, count, err, tt.want)
			}
		}

		all, err := s.ListPendingActions(ctx, 0)
		if err != nil || len(all) != 3 || all[0].ID != first.ID || all[1].ID != second.ID || all[2].ID != third.ID {
			t.Errorf("ListPendingActions = (%+v, %v), want the three oldest first", all, err)
		}
		limited, err := s.ListPendingActions(ctx, 2)
		if err != nil || len(limited) != 2 {
			t.Errorf("ListPendingActions(2) = (%d rows, %v), want 2", len(limited), err)
		}

		if _, found, err := s.TakePendingAction(ctx, orgA, "cfg-idle"); err != nil || found {
			t.Errorf("TakePendingAction with nothing queued = (found %t, %v), want none", found, err)
		}
		taken, found, err := s.TakePendingAction(ctx, orgB, configEast)
		if err != nil || !found || taken.ID != third.ID {
			t.Errorf("TakePendingAction = (%+v, %t, %v), want orgB's row", taken, found, err)
		}
		if _, found, _ := s.TakePendingAction(ctx, orgB, configEast); found {
			t.Error("a taken action was taken again")
		}

		if err := s.DeletePendingAction(ctx, second.ID); err != nil {
			t.Errorf("DeletePendingAction: %v", err)
		}
		if err := s.DeletePendingAction(ctx, second.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second DeletePendingAction: err = %v, want ErrNotFound", err)
		}
		count, err = s.CountPendingByParent(ctx, orgA, "ri-batch")
		if err != nil || count != 1 {
			t.Errorf("CountPendingByParent after delete = (%d, %v), want 1", count, err)
		}

		for _, invalid := range []store.PendingAction{
			{OrgID: orgA, ConfigID: configEast, Action: store.OperationRemoveOrg},
			{OrgID: orgA, ConfigID: configEast, Action: ""},
			{OrgID: "", ConfigID: configEast, Action: store.OperationRemove},
		} {
			if _, _, err := s.EnqueueAction(ctx, invalid); err == nil {
				t.Errorf("EnqueueAction(%+v) succeeded, want an error", invalid)
			}
		}
	})
}

func TestParentOperations(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		op := store.ParentOperation{ID: "rm-scan-0f8e", OrgID: orgA, Kind: "batch-remove"}
		if err := s.CreateParentOperation(ctx, op); err != nil {
			t.Fatalf("CreateParentOperation: %v", err)
		}
		if err := s.CreateParentOperation(ctx, op); !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("CreateParentOperation with a duplicate id: err = %v, want ErrAlreadyExists", err)
		}

		exists, err := s.ParentOperationExists(ctx, orgA, op.ID)
		if err != nil || !exists {
			t.Errorf("ParentOperationExists = (%t, %v), want true", exists, err)
		}
		exists, err = s.ParentOperationExists(ctx, orgB, op.ID)
		if err != nil || exists {
			t.Errorf("ParentOperationExists from another org = (%t, %v), want false", exists, err)
		}
		exists, err = s.ParentOperationExists(ctx, orgA, "rm-scan-unknown")
		if err != nil || exists {
			t.Errorf("ParentOperationExists of an unknown id = (%t, %v), want false", exists, err)
		}
		if err := s.CreateParentOperation(ctx, store.ParentOperation{OrgID: orgA}); err == nil {
			t.Error("CreateParentOperation without an id succeeded, want an error")
		}
	})
}
