package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/scanner-ops/onboarding-service/gen/api"
	"github.com/scanner-ops/onboarding-service/store"
	"github.com/scanner-ops/onboarding-service/workflows"
)

// RemoveCloudOrganization starts the removal job of one cloud organisation,
// named in the body or, for clients that cannot send a DELETE body, in the
// query.
func (h *handlers) RemoveCloudOrganization(ctx context.Context, request api.RemoveCloudOrganizationRequestObject) (api.RemoveCloudOrganizationResponseObject, error) {
	cloudOrgID, provider, err := cloudOrgTarget(request)
	if err != nil {
		return nil, err
	}
	addLogAttrs(ctx, slog.String("cloud_organization_id", cloudOrgID))

	job, err := h.deps.Dispatcher.StartOrgRemoval(ctx, request.OrgID, cloudOrgID, provider, "")
	if err != nil {
		return nil, mapOrgRemovalError(err, cloudOrgID)
	}
	addLogAttrs(ctx, slog.String("job_id", job.ID))
	return api.RemoveCloudOrganization202JSONResponse{AsyncJobAcceptedJSONResponse: asyncAccepted(job.ID, parentJobsURL(job.ID))}, nil
}

// cloudOrgTarget merges the body and the query parameters of a cloud
// organisation removal; a value given in both places must agree.
func cloudOrgTarget(request api.RemoveCloudOrganizationRequestObject) (cloudOrgID, provider string, err error) {
	cloudOrgID = deref(request.Params.CloudOrganizationID)
	provider = string(deref(request.Params.CloudProvider))
	// The generated handler decodes an absent body into a zero value.
	if b := request.Body; b != nil && (b.CloudOrganizationID != "" || b.CloudProvider != "") {
		if cloudOrgID != "" && cloudOrgID != b.CloudOrganizationID {
			return "", "", badRequest("cloud-organization-id %q differs from the body's cloudOrganizationId %q",
				truncate(cloudOrgID), truncate(b.CloudOrganizationID))
		}
		if provider != "" && provider != string(b.CloudProvider) {
			return "", "", badRequest("cloud-provider %q differs from the body's cloudProvider %q", provider, b.CloudProvider)
		}
		cloudOrgID, provider = b.CloudOrganizationID, string(b.CloudProvider)
	}
	switch {
	case cloudOrgID == "":
		return "", "", badRequest("cloudOrganizationId is required")
	case provider == "":
		return "", "", badRequest("cloudProvider is required")
	}
	return cloudOrgID, provider, nil
}

func mapOrgRemovalError(err error, cloudOrgID string) error {
	var busy *workflows.BusyError
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound(msgCloudOrgNotFound)
	case errors.As(err, &busy):
		return conflict(fmt.Sprintf("cloud organization %s is already being removed by %s", cloudOrgID, busy.Active.ID), busy.Active.ID)
	}
	return mapSharedDispatchError(err, "cloud organization "+cloudOrgID)
}

// RemoveCloudProvider starts one cloud organisation removal per cloud
// organisation of the provider, best effort, under a new correlation id.
func (h *handlers) RemoveCloudProvider(ctx context.Context, request api.RemoveCloudProviderRequestObject) (api.RemoveCloudProviderResponseObject, error) {
	provider := string(request.CloudProvider)
	orgs, err := h.deps.Store.ListCloudOrganizations(ctx, request.OrgID, provider)
	if err != nil {
		return nil, err
	}
	if len(orgs) == 0 {
		return nil, notFound(fmt.Sprintf("No cloud organizations found for cloud provider %s", provider))
	}

	if err := h.requireLocks(ctx); err != nil {
		return nil, err
	}
	parentID := workflows.RemoveProviderParentID(provider)
	addLogAttrs(ctx, slog.String("parent_id", parentID))
	err = h.deps.Store.CreateParentOperation(ctx, store.ParentOperation{
		ID: parentID, OrgID: request.OrgID, Kind: "remove-provider", CreatedAt: h.now(),
	})
	if err != nil {
		return nil, fmt.Errorf("recording cloud provider removal %s: %w", parentID, err)
	}

	results := make([]api.OrgDispatchResult, 0, len(orgs))
	for _, org := range orgs {
		r := api.OrgDispatchResult{CloudOrganizationID: org.CloudOrganizationID, Success: true}
		job, err := h.deps.Dispatcher.StartOrgRemoval(ctx, request.OrgID, org.CloudOrganizationID, provider, parentID)
		if err != nil {
			err = mapOrgRemovalError(err, org.CloudOrganizationID)
			h.logger(ctx).Log(ctx, levelOf(err), "cloud organization removal not submitted",
				"cloud_organization_id", org.CloudOrganizationID, "error", err)
			msg := itemError(err)
			r.Success, r.Error = false, &msg
		} else {
			r.WorkflowName = &job.ID
		}
		results = append(results, r)
	}

	statusURL := parentJobsURL(parentID)
	return api.RemoveCloudProvider202JSONResponse{ProviderJobAcceptedJSONResponse: api.ProviderJobAcceptedJSONResponse{
		Body: api.ProviderJobResponse{
			JobID:     parentID,
			StatusURL: statusURL,
			JobInfo:   api.ProviderJobInfo{Results: results},
		},
		Headers: api.ProviderJobAcceptedResponseHeaders{Location: statusURL, RetryAfter: retryAfterSeconds},
	}}, nil
}
