package argo

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/scanner-ops/onboarding-service/workflows"
)

// maxNodeStatusBytes bounds the decompressed node status. Argo compresses
// node status when a workflow object would pass its 1 MiB default size
// limit, so real values stay far below this.
const maxNodeStatusBytes = 64 << 20

// Status reads the job's workflow: its phase, its current step (see
// currentStep), the retries spent by every step so far and, for a failed
// workflow, the failing node's message or else the workflow's message. A
// workflow that does not exist returns an error wrapping
// workflows.ErrWorkflowNotFound.
func (e *Engine) Status(ctx context.Context, name string) (workflows.Status, error) {
	name = workflows.SafeName(name, workflows.MaxNameLength)
	ctx, cancel := context.WithTimeout(ctx, e.cfg.CallTimeout)
	defer cancel()
	wf, err := e.client.ArgoprojV1alpha1().Workflows(e.cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		e.forgetUnpicked(name)
		return workflows.Status{}, fmt.Errorf("workflow %s in namespace %s: %w", name, e.cfg.Namespace, workflows.ErrWorkflowNotFound)
	}
	if err != nil {
		return workflows.Status{}, fmt.Errorf("reading workflow %s in namespace %s: %w", name, e.cfg.Namespace, err)
	}

	e.checkUnpicked(wf)
	return workflowStatus(wf)
}

// workflowStatus maps a workflow object to the engine port's Status.
func workflowStatus(wf *v1alpha1.Workflow) (workflows.Status, error) {
	st := workflows.Status{Phase: mapPhase(wf.Status.Phase)}

	nodes := wf.Status.Nodes
	if len(nodes) == 0 && wf.Status.CompressedNodes != "" {
		var err error
		if nodes, err = decompressNodes(wf.Status.CompressedNodes); err != nil {
			return workflows.Status{}, fmt.Errorf("decoding the compressed node status of workflow %s: %w", wf.Name, err)
		}
	}

	// NOTE: node status offloaded to Argo's database
	// (status.offloadNodeStatusVersion set, nodes empty) is readable only
	// through the Argo Server, which this engine does not use. CurrentStep and
	// RetryAttempt then stay empty, and a failure's message is the workflow's
	// message.
	if len(nodes) > 0 {
		step, ok := currentStep(wf.Name, nodes, st.Phase)
		if ok {
			st.CurrentStep = step.name
		}
		st.RetryAttempt = totalRetries(nodes)
		if st.Phase == workflows.PhaseFailed && ok {
			st.Message = firstNonEmpty(step.leaf.Message, wf.Status.Message, step.retryMessage)
		}
	}
	if st.Phase == workflows.PhaseFailed && st.Message == "" {
		st.Message = firstNonEmpty(wf.Status.Message,
			fmt.Sprintf("workflow %s ended in phase %s without a message", wf.Name, wf.Status.Phase))
	}
	return st, nil
}

// mapPhase maps an Argo workflow phase to the port's phases. Phases newer
// than Argo v3.7 map to pending so that a job is never finished by a phase
// this code does not know.
func mapPhase(p v1alpha1.WorkflowPhase) workflows.Phase {
	switch p {
	case v1alpha1.WorkflowRunning:
		return workflows.PhaseRunning
	case v1alpha1.WorkflowSucceeded:
		return workflows.PhaseSucceeded
	case v1alpha1.WorkflowFailed, v1alpha1.WorkflowError:
		return workflows.PhaseFailed
	default:
		return workflows.PhasePending
	}
}

// decompressNodes decodes status.compressedNodes: base64 of the gzipped
// JSON node map, as Argo's util/file.CompressEncodeString writes it. It is
// decoded here rather than with Argo's helper, whose package pulls in
// archive and parallel-gzip code the service does not otherwise need.
func decompressNodes(encoded string) (v1alpha1.Nodes, error) {
	compressed, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, fmt.Errorf("base64: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	defer zr.Close()
	raw, err := io.ReadAll(io.LimitReader(zr, maxNodeStatusBytes+1))
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if len(raw) > maxNodeStatusBytes {
		return nil, fmt.Errorf("node status is larger than %d bytes", maxNodeStatusBytes)
	}
	var nodes v1alpha1.Nodes
	if err := json.Unmarshal(raw, &nodes); err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	return nodes, nil
}

// checkUnpicked logs, once per workflow, a workflow still without a phase
// Config.UnpickedAfter after its creation: no controller watches the
// namespace, or none has the workflow's instance id.
func (e *Engine) checkUnpicked(wf *v1alpha1.Workflow) {
	if wf.Status.Phase != v1alpha1.WorkflowUnknown {
		e.forgetUnpicked(wf.Name)
		return
	}
	created := wf.CreationTimestamp.Time
	if created.IsZero() || time.Since(created) < e.cfg.UnpickedAfter {
		return
	}

	e.mu.Lock()
	_, warned := e.unpickedWarned[wf.Name]
	e.unpickedWarned[wf.Name] = struct{}{}
	e.mu.Unlock()
	if warned {
		return
	}
	e.unpickedTotal.Add(1)
	e.cfg.Logger.Warn("workflow not picked up by any workflow controller; check that the Argo controller watches the namespace and has the instance id",
		"workflow", wf.Name, "namespace", e.cfg.Namespace, "instance_id", e.cfg.InstanceID,
		"age", time.Since(created).Round(time.Second).String())
}

func (e *Engine) forgetUnpicked(name string) {
	e.mu.Lock()
	delete(e.unpickedWarned, name)
	e.mu.Unlock()
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
