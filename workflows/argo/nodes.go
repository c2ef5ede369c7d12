package argo

import (
	"regexp"
	"strings"
	"time"

	"github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"

	"github.com/scanner-ops/onboarding-service/workflows"
)

// retryChildSuffix matches the "(N)" that Argo appends to the names of the
// attempts of a retried step.
var retryChildSuffix = regexp.MustCompile(`\(\d+\)$`)

// stepState is the step the engine reports, taken from one leaf node.
type stepState struct {
	// name is the step's display name: the Retry node's for a retried step,
	// the leaf's otherwise.
	name string
	leaf v1alpha1.NodeStatus
	// retryMessage is the Retry node's message, such as "No more retries
	// left".
	retryMessage string
}

// nodeTree indexes a workflow's nodes for choosing the current step.
type nodeTree struct {
	nodes  v1alpha1.Nodes
	parent map[string]string
	// hooked contains the ids of exit handler and lifecycle hook nodes and
	// of all their descendants.
	hooked map[string]bool
}

func newNodeTree(nodes v1alpha1.Nodes) nodeTree {
	t := nodeTree{nodes: nodes, parent: make(map[string]string, len(nodes)), hooked: map[string]bool{}}
	var hookNames []string
	for id, n := range nodes {
		for _, child := range n.Children {
			t.parent[child] = id
		}
		if isHookNode(n) {
			hookNames = append(hookNames, n.Name)
		}
	}

	// Node names are paths: the nodes of a hook's template are named
	// "<hook>.step", "<hook>[0]" or "<hook>(0)". Names are used rather than
	// children lists because the step group after a step is a child of
	// that step's last node, which may be a hook's.
	for id, n := range nodes {
		for _, hook := range hookNames {
			if n.Name == hook || hasAnyPrefix(n.Name, hook+".", hook+"[", hook+"(") {
				t.hooked[id] = true
				break
			}
		}
	}
	return t
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// isHookNode reports whether n starts an exit handler or a lifecycle hook.
// Argo flags such nodes as hooked and names exit handlers "<parent>.onExit";
// the name is checked too for workflows written by older controllers.
func isHookNode(n v1alpha1.NodeStatus) bool {
	return (n.NodeFlag != nil && n.NodeFlag.Hooked) || strings.HasSuffix(n.Name, ".onExit")
}

// currentStep chooses the step to report:
//   - While the workflow is pending or running, it is the unfinished step
//     that started last. A Retry node waiting for its next attempt counts as
//     unfinished. Exit handler nodes count only when no step of the main flow
//     is unfinished. When no step is unfinished at all, it is the step that
//     finished last.
//   - For a failed workflow, it is the failed step that finished last.
//   - For a succeeded workflow, it is the step that finished last.
//
// Once the workflow has ended, main flow steps are still preferred, so an
// exit handler that ran after the main flow does not hide the step it ended
// on. Leaves are Pod and Container nodes; a leaf under a Retry node reports
// the Retry node. ok is false when the workflow has no step yet.
func currentStep(wfName string, nodes v1alpha1.Nodes, phase workflows.Phase) (stepState, bool) {
	t := newNodeTree(nodes)

	var pick func(hooked bool) (v1alpha1.NodeStatus, bool)
	switch phase {
	case workflows.PhaseFailed:
		pick = func(hooked bool) (v1alpha1.NodeStatus, bool) {
			return t.latest(hooked, isFailedLeaf, finishedAt)
		}
	case workflows.PhaseSucceeded:
		pick = func(hooked bool) (v1alpha1.NodeStatus, bool) {
			return t.latest(hooked, isFinishedLeaf, finishedAt)
		}
	default:
		pick = func(hooked bool) (v1alpha1.NodeStatus, bool) {
			return t.latest(hooked, isUnfinishedStep, startedAt)
		}
	}

	node, ok := pick(false)
	if !ok {
		node, ok = pick(true)
	}
	if !ok && !phase.Terminal() {
		node, ok = t.latest(false, isFinishedLeaf, finishedAt)
	}
	if !ok && phase == workflows.PhaseFailed {
		node, ok = t.latest(false, isFinishedLeaf, finishedAt)
	}
	if !ok {
		return stepState{}, false
	}
	return t.stepOf(node), true
}

// latest returns the node of the chosen flow (main or hooked) that matches
// keep and has the latest time. Equal times are broken by node id, so the
// choice does not depend on map order.
func (t nodeTree) latest(hooked bool, keep func(v1alpha1.NodeStatus) bool, at func(v1alpha1.NodeStatus) time.Time) (v1alpha1.NodeStatus, bool) {
	var best v1alpha1.NodeStatus
	found := false
	for id, n := range t.nodes {
		if t.hooked[id] != hooked || !keep(n) {
			continue
		}
		if !found || at(n).After(at(best)) || at(n).Equal(at(best)) && n.ID > best.ID {
			best, found = n, true
		}
	}
	return best, found
}

// stepOf maps a node to its step: a Retry node, or a leaf under one, is
// reported with the Retry node's name and attempt count.
func (t nodeTree) stepOf(n v1alpha1.NodeStatus) stepState {
	retry, isRetry := n, n.Type == v1alpha1.NodeTypeRetry
	leaf := n
	if !isRetry {
		if p, ok := t.nodes[t.parent[n.ID]]; ok && p.Type == v1alpha1.NodeTypeRetry {
			retry, isRetry = p, true
		}
	} else if last, ok := t.lastAttempt(retry); ok {
		leaf = last
	}

	if !isRetry {
		// A leaf whose Retry parent is missing still carries the "(N)"
		// suffix of its attempt.
		return stepState{name: retryChildSuffix.ReplaceAllString(n.DisplayName, ""), leaf: leaf}
	}
	return stepState{
		name:         retry.DisplayName,
		leaf:         leaf,
		retryMessage: retry.Message,
	}
}

// totalRetries counts the retried attempts of every step of the main flow,
// which is the attempts of each Retry node minus one, summed. The port
// reports retries across the whole workflow, so a step retried twice still
// counts once later steps run. Exit handler and hook retries are left out.
func totalRetries(nodes v1alpha1.Nodes) int {
	t := newNodeTree(nodes)
	total := 0
	for id, n := range nodes {
		if n.Type != v1alpha1.NodeTypeRetry || t.hooked[id] {
			continue
		}
		total += max(t.attempts(n)-1, 0)
	}
	return total
}

// attempts counts the children of a Retry node that are attempts, named
// "<retry name>(N)"; hook nodes attached to the step are not attempts.
func (t nodeTree) attempts(retry v1alpha1.NodeStatus) int {
	count := 0
	for _, id := range retry.Children {
		if t.isAttempt(retry, id) {
			count++
		}
	}
	return count
}

func (t nodeTree) lastAttempt(retry v1alpha1.NodeStatus) (v1alpha1.NodeStatus, bool) {
	for i := len(retry.Children) - 1; i >= 0; i-- {
		if t.isAttempt(retry, retry.Children[i]) {
			return t.nodes[retry.Children[i]], true
		}
	}
	return v1alpha1.NodeStatus{}, false
}

func (t nodeTree) isAttempt(retry v1alpha1.NodeStatus, id string) bool {
	child, ok := t.nodes[id]
	return ok && strings.HasPrefix(child.Name, retry.Name+"(") && retryChildSuffix.MatchString(child.Name)
}

func isLeaf(n v1alpha1.NodeStatus) bool {
	return n.Type == v1alpha1.NodeTypePod || n.Type == v1alpha1.NodeTypeContainer
}

func isUnfinished(n v1alpha1.NodeStatus) bool {
	return n.Phase == v1alpha1.NodePending || n.Phase == v1alpha1.NodeRunning || n.Phase == ""
}

// isUnfinishedStep matches running or pending leaves, and Retry nodes that
// have not ended, such as one waiting out the backoff before its next
// attempt.
func isUnfinishedStep(n v1alpha1.NodeStatus) bool {
	return (isLeaf(n) || n.Type == v1alpha1.NodeTypeRetry) && isUnfinished(n)
}

func isFinishedLeaf(n v1alpha1.NodeStatus) bool {
	return isLeaf(n) && !isUnfinished(n) && n.Phase != v1alpha1.NodeSkipped && n.Phase != v1alpha1.NodeOmitted
}

func isFailedLeaf(n v1alpha1.NodeStatus) bool {
	return isLeaf(n) && (n.Phase == v1alpha1.NodeFailed || n.Phase == v1alpha1.NodeError)
}

func startedAt(n v1alpha1.NodeStatus) time.Time { return n.StartedAt.Time }

func finishedAt(n v1alpha1.NodeStatus) time.Time { return n.FinishedAt.Time }
