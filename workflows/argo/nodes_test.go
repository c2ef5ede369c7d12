package argo

import (
	"strings"
	"testing"
	"time"

	"github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/scanner-ops/onboarding-service/workflows"
)

const wfName = "rm-scan-cfg-1-1767225600"

// node describes one node of a test tree; times are seconds after testNow
// and zero means unset.
type node struct {
	name     string // full node name; the display name is derived as Argo does
	typ      v1alpha1.NodeType
	phase    v1alpha1.NodePhase
	started  int
	finished int
	message  string
	children []string
	hooked   bool
}

// treeOf builds a node map with Argo's ids and display names: the name
// without the workflow's name and the separator after it.
func treeOf(t *testing.T, nodes ...node) v1alpha1.Nodes {
	t.Helper()
	wf := &v1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Name: wfName}}
	out := v1alpha1.Nodes{}
	for _, n := range nodes {
		id := wf.NodeID(n.name)
		display := n.name
		if n.name != wfName {
			display = trimBoundary(n.name)
		}
		ns := v1alpha1.NodeStatus{
			ID: id, Name: n.name, DisplayName: display, Type: n.typ, Phase: n.phase, Message: n.message,
			StartedAt: at(n.started), FinishedAt: at(n.finished),
		}
		if n.hooked {
			ns.NodeFlag = &v1alpha1.NodeFlag{Hooked: true}
		}
		for _, c := range n.children {
			ns.Children = append(ns.Children, wf.NodeID(c))
		}
		out[id] = ns
	}
	return out
}

// trimBoundary returns the last path element of a node name ("[0]",
// "delete-stack", "delete-stack(1)"), which is Argo's display name for
// nodes of the workflow's own steps.
func trimBoundary(name string) string {
	if strings.HasSuffix(name, "]") {
		return name[strings.LastIndex(name, "["):]
	}
	return name[strings.LastIndex(name, ".")+1:]
}

func at(seconds int) metav1.Time {
	if seconds == 0 {
		return metav1.Time{}
	}
	return metav1.NewTime(testNow.Add(time.Duration(seconds) * time.Second))
}

func statusOf(t *testing.T, phase v1alpha1.WorkflowPhase, message string, nodes v1alpha1.Nodes) workflows.Status {
	t.Helper()
	wf := &v1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Name: wfName}}
	wf.Status.Phase = phase
	wf.Status.Message = message
	wf.Status.Nodes = nodes
	st, err := workflowStatus(wf)
	if err != nil {
		t.Fatalf("workflowStatus: %v", err)
	}
	return st
}

// Node names of a two-step remove workflow whose second step is retried.
const (
	root      = wfName
	group0    = wfName + "[0]"
	stepA     = group0 + ".delete-stack"
	stepA0    = stepA + "(0)"
	group1    = wfName + "[1]"
	stepB     = group1 + ".awaiting-stack-deleted"
	stepB0    = stepB + "(0)"
	stepB1    = stepB + "(1)"
	stepB2    = stepB + "(2)"
	exitRoot  = wfName + ".onExit"
	exitGroup = exitRoot + "[0]"
	exitLeaf  = exitGroup + ".notify"
)

// retriedTree returns delete-stack done and awaiting-stack-deleted on its
// attempt with the given child phases.
func retriedTree(t *testing.T, retryPhase v1alpha1.NodePhase, attempts ...v1alpha1.NodePhase) []node {
	t.Helper()
	names := []string{stepB0, stepB1, stepB2}[:len(attempts)]
	nodes := []node{
		{name: root, typ: v1alpha1.NodeTypeSteps, phase: v1alpha1.NodeRunning, started: 1, children: []string{group0}},
		{name: group0, typ: v1alpha1.NodeTypeStepGroup, phase: v1alpha1.NodeSucceeded, started: 1, finished: 3, children: []string{stepA}},
		{name: stepA, typ: v1alpha1.NodeTypeRetry, phase: v1alpha1.NodeSucceeded, started: 1, finished: 3, children: []string{stepA0}},
		{name: stepA0, typ: v1alpha1.NodeTypePod, phase: v1alpha1.NodeSucceeded, started: 1, finished: 3, children: []string{group1}},
		{name: group1, typ: v1alpha1.NodeTypeStepGroup, phase: retryPhase, started: 3, children: []string{stepB}},
		{name: stepB, typ: v1alpha1.NodeTypeRetry, phase: retryPhase, started: 3, children: names},
	}
	for i, phase := range attempts {
		n := node{name: names[i], typ: v1alpha1.NodeTypePod, phase: phase, started: 3 + 10*i}
		if phase != v1alpha1.NodeRunning {
			n.finished = 3 + 10*i + 5
			n.message = "main: Error (exit code 1): stack still exists"
		}
		nodes = append(nodes, n)
	}
	return nodes
}

func TestPhaseMapping(t *testing.T) {
	t.Parallel()

	tests := []struct {
		argo v1alpha1.WorkflowPhase
		want workflows.Phase
	}{
		{v1alpha1.WorkflowUnknown, workflows.PhasePending},
		{v1alpha1.WorkflowPending, workflows.PhasePending},
		{v1alpha1.WorkflowRunning, workflows.PhaseRunning},
		{v1alpha1.WorkflowSucceeded, workflows.PhaseSucceeded},
		{v1alpha1.WorkflowFailed, workflows.PhaseFailed},
		{v1alpha1.WorkflowError, workflows.PhaseFailed},
		{"Paused", workflows.PhasePending},
	}
	for _, tt := range tests {
		if got := statusOf(t, tt.argo, "", nil).Phase; got != tt.want {
			t.Errorf("phase %q maps to %q, want %q", tt.argo, got, tt.want)
		}
	}
}

func TestCurrentStepOfRunningRetry(t *testing.T) {
	t.Parallel()

	nodes := treeOf(t, retriedTree(t, v1alpha1.NodeRunning, v1alpha1.NodeFailed, v1alpha1.NodeRunning)...)
	st := statusOf(t, v1alpha1.WorkflowRunning, "", nodes)

	if st.CurrentStep != "awaiting-stack-deleted" {
		t.Errorf("CurrentStep = %q, want the Retry node's name", st.CurrentStep)
	}
	if st.RetryAttempt != 1 {
		t.Errorf("RetryAttempt = %d, want 1", st.RetryAttempt)
	}
	if st.Message != "" {
		t.Errorf("Message = %q, want none while running", st.Message)
	}
}

func TestCurrentStepDuringRetryBackoff(t *testing.T) {
	t.Parallel()

	nodes := treeOf(t, retriedTree(t, v1alpha1.NodeRunning, v1alpha1.NodeFailed)...)
	st := statusOf(t, v1alpha1.WorkflowRunning, "", nodes)

	if st.CurrentStep != "awaiting-stack-deleted" || st.RetryAttempt != 0 {
		t.Errorf("status = %+v, want awaiting-stack-deleted with 0 retries", st)
	}
}

func TestCurrentStepOfFailedWorkflow(t *testing.T) {
	t.Parallel()

	attempts := []v1alpha1.NodePhase{v1alpha1.NodeFailed, v1alpha1.NodeFailed, v1alpha1.NodeFailed}
	nodes := treeOf(t, retriedTree(t, v1alpha1.NodeFailed, attempts...)...)
	st := statusOf(t, v1alpha1.WorkflowFailed, "child 'x' failed", nodes)

	if st.Phase != workflows.PhaseFailed || st.CurrentStep != "awaiting-stack-deleted" || st.RetryAttempt != 2 {
		t.Errorf("status = %+v, want failed at awaiting-stack-deleted after 2 retries", st)
	}
	if st.Message != "main: Error (exit code 1): stack still exists" {
		t.Errorf("Message = %q, want the failed pod's message", st.Message)
	}
}

func TestFailureMessagePrecedence(t *testing.T) {
	t.Parallel()

	failedTree := func(podMessage, retryMessage string) v1alpha1.Nodes {
		return treeOf(t,
			node{name: root, typ: v1alpha1.NodeTypeSteps, phase: v1alpha1.NodeFailed, children: []string{group0}},
			node{name: group0, typ: v1alpha1.NodeTypeStepGroup, phase: v1alpha1.NodeFailed, children: []string{stepA}},
			node{name: stepA, typ: v1alpha1.NodeTypeRetry, phase: v1alpha1.NodeFailed, started: 1, finished: 2,
				message: retryMessage, children: []string{stepA0}},
			node{name: stepA0, typ: v1alpha1.NodeTypePod, phase: v1alpha1.NodeFailed, started: 1, finished: 2, message: podMessage},
		)
	}
	tests := []struct {
		name                                 string
		podMessage, workflowMessage, retryMs string
		want                                 string
	}{
		{"pod message first", "main: Error (exit code 2): access denied", "child 'x' failed", "No more retries left", "main: Error (exit code 2): access denied"},
		{"workflow message without pod message", "", "child 'x' failed", "No more retries left", "child 'x' failed"},
		{"retry message last", "", "", "No more retries left", "No more retries left"},
		{"generic message without any", "", "", "", "workflow " + wfName + " ended in phase Failed without a message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := statusOf(t, v1alpha1.WorkflowFailed, tt.workflowMessage, failedTree(tt.podMessage, tt.retryMs))
			if st.Message != tt.want {
				t.Errorf("Message = %q, want %q", st.Message, tt.want)
			}
		})
	}
}

func TestWorkflowErrorWithoutNodesReportsMessage(t *testing.T) {
	t.Parallel()

	st := statusOf(t, v1alpha1.WorkflowError, `workflowtemplates.argoproj.io "scanner-remove" not found`, nil)
	if st.Phase != workflows.PhaseFailed || st.CurrentStep != "" {
		t.Errorf("status = %+v, want failed without a step", st)
	}
	if st.Message != `workflowtemplates.argoproj.io "scanner-remove" not found` {
		t.Errorf("Message = %q", st.Message)
	}
}

func TestCurrentStepOfSucceededWorkflowIsLastFinished(t *testing.T) {
	t.Parallel()

	nodes := retriedTree(t, v1alpha1.NodeSucceeded, v1alpha1.NodeFailed, v1alpha1.NodeSucceeded)
	nodes[0].phase = v1alpha1.NodeSucceeded
	st := statusOf(t, v1alpha1.WorkflowSucceeded, "", treeOf(t, nodes...))

	if st.CurrentStep != "awaiting-stack-deleted" || st.RetryAttempt != 1 || st.Message != "" {
		t.Errorf("status = %+v, want awaiting-stack-deleted, 1 retry, no message", st)
	}
}

func TestCurrentStepOfNestedSteps(t *testing.T) {
	t.Parallel()

	outer := group0 + ".cleanup"
	innerGroup := outer + "[0]"
	inner := innerGroup + ".delete-scanner-config"
	nodes := treeOf(t,
		node{name: root, typ: v1alpha1.NodeTypeSteps, phase: v1alpha1.NodeRunning, started: 1, children: []string{group0}},
		node{name: group0, typ: v1alpha1.NodeTypeStepGroup, phase: v1alpha1.NodeRunning, started: 1, children: []string{outer}},
		node{name: outer, typ: v1alpha1.NodeTypeSteps, phase: v1alpha1.NodeRunning, started: 1, children: []string{innerGroup}},
		node{name: innerGroup, typ: v1alpha1.NodeTypeStepGroup, phase: v1alpha1.NodeRunning, started: 2, children: []string{inner}},
		node{name: inner, typ: v1alpha1.NodeTypePod, phase: v1alpha1.NodeRunning, started: 2},
	)
	st := statusOf(t, v1alpha1.WorkflowRunning, "", nodes)

	if st.CurrentStep != "delete-scanner-config" || st.RetryAttempt != 0 {
		t.Errorf("status = %+v, want the inner leaf delete-scanner-config", st)
	}
}

// exitTree has a main flow with one step and an exit handler with one.
func exitTree(t *testing.T, mainPhase, exitPhase v1alpha1.NodePhase) v1alpha1.Nodes {
	t.Helper()
	mainLeaf := node{name: stepA, typ: v1alpha1.NodeTypePod, phase: mainPhase, started: 1}
	if mainPhase != v1alpha1.NodeRunning {
		mainLeaf.finished = 5
	}
	exit := node{name: exitLeaf, typ: v1alpha1.NodeTypePod, phase: exitPhase, started: 6}
	if exitPhase != v1alpha1.NodeRunning {
		exit.finished = 8
	}
	return treeOf(t,
		node{name: root, typ: v1alpha1.NodeTypeSteps, phase: mainPhase, started: 1, children: []string{group0, exitRoot}},
		node{name: group0, typ: v1alpha1.NodeTypeStepGroup, phase: mainPhase, started: 1, children: []string{stepA}},
		mainLeaf,
		node{name: exitRoot, typ: v1alpha1.NodeTypeSteps, phase: exitPhase, started: 6, hooked: true, children: []string{exitGroup}},
		node{name: exitGroup, typ: v1alpha1.NodeTypeStepGroup, phase: exitPhase, started: 6, children: []string{exitLeaf}},
		exit,
	)
}

func TestCurrentStepWithExitHandler(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		wfPhase   v1alpha1.WorkflowPhase
		mainPhase v1alpha1.NodePhase
		exitPhase v1alpha1.NodePhase
		want      string
	}{
		{"main flow running is reported over a running handler", v1alpha1.WorkflowRunning, v1alpha1.NodeRunning, v1alpha1.NodeRunning, "delete-stack"},
		{"handler reported once the main flow is done", v1alpha1.WorkflowRunning, v1alpha1.NodeSucceeded, v1alpha1.NodeRunning, "notify"},
		{"succeeded workflow reports its last main step", v1alpha1.WorkflowSucceeded, v1alpha1.NodeSucceeded, v1alpha1.NodeSucceeded, "delete-stack"},
		{"failed workflow reports the failed main step", v1alpha1.WorkflowFailed, v1alpha1.NodeFailed, v1alpha1.NodeSucceeded, "delete-stack"},
		{"failed handler reported when the main flow succeeded", v1alpha1.WorkflowFailed, v1alpha1.NodeSucceeded, v1alpha1.NodeFailed, "notify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := statusOf(t, tt.wfPhase, "", exitTree(t, tt.mainPhase, tt.exitPhase))
			if st.CurrentStep != tt.want {
				t.Errorf("CurrentStep = %q, want %q", st.CurrentStep, tt.want)
			}
		})
	}
}

func TestCurrentStepBetweenSteps(t *testing.T) {
	t.Parallel()

	// The first step has finished and the controller has not yet created
	// the next step group.
	nodes := treeOf(t,
		node{name: root, typ: v1alpha1.NodeTypeSteps, phase: v1alpha1.NodeRunning, started: 1, children: []string{group0}},
		node{name: group0, typ: v1alpha1.NodeTypeStepGroup, phase: v1alpha1.NodeSucceeded, started: 1, finished: 3, children: []string{stepA}},
		node{name: stepA, typ: v1alpha1.NodeTypePod, phase: v1alpha1.NodeSucceeded, started: 1, finished: 3},
	)
	st := statusOf(t, v1alpha1.WorkflowRunning, "", nodes)
	if st.CurrentStep != "delete-stack" {
		t.Errorf("CurrentStep = %q, want the last finished step", st.CurrentStep)
	}
}

func TestCurrentStepEmptyBeforeFirstStep(t *testing.T) {
	t.Parallel()

	nodes := treeOf(t, node{name: root, typ: v1alpha1.NodeTypeSteps, phase: v1alpha1.NodeRunning, started: 1})
	st := statusOf(t, v1alpha1.WorkflowRunning, "", nodes)
	if st.CurrentStep != "" || st.Phase != workflows.PhaseRunning {
		t.Errorf("status = %+v, want running without a step", st)
	}
}

func TestRetryAttemptIgnoresHookChildren(t *testing.T) {
	t.Parallel()

	hook := stepB + ".onExit"
	nodes := retriedTree(t, v1alpha1.NodeRunning, v1alpha1.NodeFailed, v1alpha1.NodeRunning)
	nodes[5].children = append(nodes[5].children, hook)
	nodes = append(nodes, node{name: hook, typ: v1alpha1.NodeTypePod, phase: v1alpha1.NodeSucceeded, started: 9, finished: 10, hooked: true})
	st := statusOf(t, v1alpha1.WorkflowRunning, "", treeOf(t, nodes...))

	if st.CurrentStep != "awaiting-stack-deleted" || st.RetryAttempt != 1 {
		t.Errorf("status = %+v, want awaiting-stack-deleted with 1 retry", st)
	}
}
