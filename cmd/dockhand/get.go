package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
	"github.com/dockhand-dev/dockhand/internal/runner"
)

// Exit codes of dockhand get.
const (
	exitGetFailed  = 1 // the state file or cluster could not be read
	exitGetInvalid = 2 // bad arguments or flags
)

// Kinds dockhand get lists.
const (
	getRepositories = "repositories"
	getPolicies     = "policies"
	getUpdates      = "updates"
	getAll          = "all"
)

var getKindAliases = map[string]string{
	"repositories": getRepositories, "repository": getRepositories, "repo": getRepositories, "repos": getRepositories,
	"imagerepository": getRepositories, "imagerepositories": getRepositories, "dhrepo": getRepositories,
	"policies": getPolicies, "policy": getPolicies, "imagepolicy": getPolicies, "imagepolicies": getPolicies, "dhpol": getPolicies,
	"updates": getUpdates, "update": getUpdates, "automations": getUpdates, "automation": getUpdates,
	"imageupdateautomation": getUpdates, "imageupdateautomations": getUpdates, "dhauto": getUpdates,
	"all": getAll,
}

type getOptions struct {
	kind          string
	namespace     string // "" means the source's default
	allNamespaces bool
	output        string
	showHistory   bool
	statePath     string
	kubeconfig    string
	kubecontext   string
}

func newGetCmd() *cobra.Command {
	get := &cobra.Command{
		Use:   "get",
		Short: "Show objects and their status",
	}
	var opts getOptions
	images := &cobra.Command{
		Use:   "images [repositories|policies|updates|all]",
		Short: "Show image repositories, policies and update automations",
		Long: `Show image repositories, policies and update automations with their status,
from the state file of "dockhand run" (--state FILE) or, without --state,
from the cluster of the current kubeconfig context. The tables are the same
either way. With no kind, all three are shown.`,
		Example: `  dockhand get images --state ~/.local/state/dockhand/state.db
  dockhand get images policies -A
  dockhand get images updates -n flux-system --show-history
  dockhand get images all -o yaml`,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{getRepositories, getPolicies, getUpdates, getAll},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.kind = getAll
			if len(args) == 1 {
				k, ok := getKindAliases[strings.ToLower(args[0])]
				if !ok {
					return &exitError{code: exitGetInvalid, msg: fmt.Sprintf("unknown kind %q: want repositories, policies, updates or all", args[0])}
				}
				opts.kind = k
			}
			return runGet(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), opts)
		},
	}
	f := images.Flags()
	f.StringVarP(&opts.namespace, "namespace", "n", "", "namespace to list (default: the kubeconfig context's, or \"default\" for a state file)")
	f.BoolVarP(&opts.allNamespaces, "all-namespaces", "A", false, "list every namespace")
	f.StringVarP(&opts.output, "output", "o", "", "wide, json or yaml (default: a table)")
	f.BoolVar(&opts.showHistory, "show-history", false, "also list the recent runs of each update automation")
	f.StringVar(&opts.statePath, "state", "", "read the state file of dockhand run instead of a cluster")
	f.StringVar(&opts.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&opts.kubecontext, "context", "", "kubeconfig context (default: the current one)")
	get.AddCommand(images)
	return get
}

// imageObjects are the objects dockhand get shows.
type imageObjects struct {
	Repositories []imagev1.ImageRepository
	Policies     []imagev1.ImagePolicy
	Automations  []imagev1.ImageUpdateAutomation
}

func runGet(ctx context.Context, out, errOut io.Writer, opts getOptions) error {
	switch opts.output {
	case "", "wide", "json", "yaml":
	default:
		return &exitError{code: exitGetInvalid, msg: fmt.Sprintf("unknown output format %q (want wide, json or yaml)", opts.output)}
	}
	if opts.kind == "" {
		opts.kind = getAll
	}
	var objs *imageObjects
	var ns string
	var err error
	if opts.statePath != "" {
		if opts.kubeconfig != "" || opts.kubecontext != "" {
			return &exitError{code: exitGetInvalid, msg: "--state reads a file: --kubeconfig and --context do not apply"}
		}
		ns = opts.namespace
		if ns == "" {
			ns = "default"
		}
		objs, err = objectsFromState(ctx, opts.statePath)
	} else {
		objs, ns, err = objectsFromCluster(ctx, opts)
	}
	if err != nil {
		return err
	}
	if !opts.allNamespaces {
		objs = objs.inNamespace(ns)
	}
	objs = objs.only(opts.kind)
	objs.sort()

	switch opts.output {
	case "json", "yaml":
		return writeObjectList(out, objs, opts.output)
	}
	if objs.empty() {
		where := "in namespace " + ns
		if opts.allNamespaces {
			where = "in any namespace"
		}
		fmt.Fprintf(errOut, "No %s found %s.\n", kindNoun(opts.kind), where)
		return nil
	}
	return writeTables(out, objs, tableOptions{
		wide:          opts.output == "wide",
		allNamespaces: opts.allNamespaces,
		prefixKinds:   opts.kind == getAll,
		showHistory:   opts.showHistory,
		now:           time.Now(),
	})
}

func kindNoun(kind string) string {
	switch kind {
	case getRepositories:
		return "image repositories"
	case getPolicies:
		return "image policies"
	case getUpdates:
		return "image update automations"
	}
	return "image repositories, policies or update automations"
}

// objectsFromState reads the objects the runner recorded: from the file,
// or, while a long-running dockhand run holds it, from that process.
func objectsFromState(ctx context.Context, path string) (*imageObjects, error) {
	recs, err := readStateRecords(ctx, path)
	if err != nil {
		return nil, &exitError{code: exitGetFailed, msg: err.Error()}
	}
	objs := &imageObjects{}
	for _, rec := range recs {
		switch rec.Kind {
		case runner.KindRepository:
			var o imagev1.ImageRepository
			err = rec.Decode(&o)
			objs.Repositories = append(objs.Repositories, o)
		case runner.KindPolicy:
			var o imagev1.ImagePolicy
			err = rec.Decode(&o)
			objs.Policies = append(objs.Policies, o)
		case runner.KindAutomation:
			var o imagev1.ImageUpdateAutomation
			err = rec.Decode(&o)
			objs.Automations = append(objs.Automations, o)
		}
		if err != nil {
			return nil, &exitError{code: exitGetFailed, msg: err.Error()}
		}
	}
	return objs, nil
}

func readStateRecords(ctx context.Context, path string) ([]runner.Record, error) {
	st, err := runner.OpenState(path, runner.StateOptions{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, runner.ErrStateBusy) {
		recs, serr := runner.RecordsFromSocket(ctx, path)
		if serr != nil {
			return nil, fmt.Errorf("%w; %w", err, serr)
		}
		return recs, nil
	}
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Records()
}

func (o *imageObjects) inNamespace(ns string) *imageObjects {
	out := &imageObjects{}
	for _, x := range o.Repositories {
		if x.Namespace == ns {
			out.Repositories = append(out.Repositories, x)
		}
	}
	for _, x := range o.Policies {
		if x.Namespace == ns {
			out.Policies = append(out.Policies, x)
		}
	}
	for _, x := range o.Automations {
		if x.Namespace == ns {
			out.Automations = append(out.Automations, x)
		}
	}
	return out
}

func (o *imageObjects) only(kind string) *imageObjects {
	out := *o
	if kind != getAll && kind != getRepositories {
		out.Repositories = nil
	}
	if kind != getAll && kind != getPolicies {
		out.Policies = nil
	}
	if kind != getAll && kind != getUpdates {
		out.Automations = nil
	}
	return &out
}

func (o *imageObjects) empty() bool {
	return len(o.Repositories)+len(o.Policies)+len(o.Automations) == 0
}

func (o *imageObjects) sort() {
	byKey := func(a, b metav1.ObjectMeta) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	}
	slices.SortFunc(o.Repositories, func(a, b imagev1.ImageRepository) int { return byKey(a.ObjectMeta, b.ObjectMeta) })
	slices.SortFunc(o.Policies, func(a, b imagev1.ImagePolicy) int { return byKey(a.ObjectMeta, b.ObjectMeta) })
	slices.SortFunc(o.Automations, func(a, b imagev1.ImageUpdateAutomation) int { return byKey(a.ObjectMeta, b.ObjectMeta) })
}

// writeObjectList writes a v1 List, as kubectl get -o json|yaml does.
func writeObjectList(out io.Writer, objs *imageObjects, format string) error {
	items := []runtime.Object{}
	gvk := func(kind string) metav1.TypeMeta {
		return metav1.TypeMeta{APIVersion: imagev1.GroupVersion.String(), Kind: kind}
	}
	for i := range objs.Repositories {
		o := objs.Repositories[i].DeepCopy()
		o.TypeMeta = gvk(imagev1.ImageRepositoryKind)
		items = append(items, o)
	}
	for i := range objs.Policies {
		o := objs.Policies[i].DeepCopy()
		o.TypeMeta = gvk(imagev1.ImagePolicyKind)
		items = append(items, o)
	}
	for i := range objs.Automations {
		o := objs.Automations[i].DeepCopy()
		o.TypeMeta = gvk(imagev1.ImageUpdateAutomationKind)
		items = append(items, o)
	}
	list := map[string]any{"apiVersion": "v1", "kind": "List", "items": items}
	if format == "json" {
		return writeJSON(out, list)
	}
	raw, err := yaml.Marshal(list)
	if err != nil {
		return err
	}
	_, err = out.Write(raw)
	return err
}

type tableOptions struct {
	wide          bool
	allNamespaces bool
	prefixKinds   bool // name column as kind/name (get images all)
	showHistory   bool
	now           time.Time
}

// writeTables writes one table per kind present, separated by blank lines.
func writeTables(out io.Writer, objs *imageObjects, opts tableOptions) error {
	var sections []func(io.Writer)
	if len(objs.Repositories) > 0 {
		sections = append(sections, func(w io.Writer) { repositoryTable(w, objs.Repositories, opts) })
	}
	if len(objs.Policies) > 0 {
		sections = append(sections, func(w io.Writer) { policyTable(w, objs.Policies, opts) })
	}
	if len(objs.Automations) > 0 {
		sections = append(sections, func(w io.Writer) { automationTable(w, objs.Automations, opts) })
		if opts.showHistory {
			for _, a := range objs.Automations {
				sections = append(sections, func(w io.Writer) { historyTable(w, a, opts) })
			}
		}
	}
	for i, s := range sections {
		if i > 0 {
			if _, err := fmt.Fprintln(out); err != nil {
				return err
			}
		}
		tw := tabwriter.NewWriter(out, 0, 4, 3, ' ', 0)
		s(tw)
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// row writes one tab-separated line.
func row(w io.Writer, cells ...string) {
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

func nameCells(opts tableOptions, kind string, om metav1.ObjectMeta) []string {
	name := om.Name
	if opts.prefixKinds {
		name = strings.ToLower(kind) + "/" + name
	}
	if opts.allNamespaces {
		return []string{om.Namespace, name}
	}
	return []string{name}
}

func nameHeaders(opts tableOptions) []string {
	if opts.allNamespaces {
		return []string{"NAMESPACE", "NAME"}
	}
	return []string{"NAME"}
}

func repositoryTable(w io.Writer, repos []imagev1.ImageRepository, opts tableOptions) {
	head := append(nameHeaders(opts), "IMAGE", "TAGS", "LAST SCAN", "SUSPENDED", "READY", "MESSAGE")
	if opts.wide {
		head = append(head, "LATEST TAGS", "REVISION")
	}
	row(w, head...)
	for _, r := range repos {
		tags, scan, latest, rev := "-", "-", "-", "-"
		if s := r.Status.LastScanResult; s != nil {
			tags, scan = strconv.Itoa(s.TagCount), timeCell(s.ScanTime)
			if len(s.LatestTags) > 0 {
				latest = strings.Join(s.LatestTags[:min(5, len(s.LatestTags))], ",")
			}
			if s.Revision != "" {
				rev = s.Revision
			}
		}
		ready, msg := readyCells(r.Status.Conditions, opts.wide)
		cells := append(nameCells(opts, imagev1.ImageRepositoryKind, r.ObjectMeta), r.Spec.Image, tags, scan, boolCell(r.Spec.Suspend), ready, msg)
		if opts.wide {
			cells = append(cells, latest, rev)
		}
		row(w, cells...)
	}
}

func policyTable(w io.Writer, pols []imagev1.ImagePolicy, opts tableOptions) {
	head := append(nameHeaders(opts), "LATEST IMAGE", "READY", "MESSAGE")
	if opts.wide {
		head = append(head, "DIGEST", "PREVIOUS IMAGE", "REPOSITORY")
	}
	row(w, head...)
	for _, p := range pols {
		latest, digest, prev := "-", "-", "-"
		if l := p.Status.LatestRef; l != nil {
			latest = l.Name + ":" + l.Tag
			if l.Digest != "" {
				digest = l.Digest
			}
		}
		if pr := p.Status.ObservedPreviousRef; pr != nil {
			prev = pr.Name + ":" + pr.Tag
		}
		ready, msg := readyCells(p.Status.Conditions, opts.wide)
		cells := append(nameCells(opts, imagev1.ImagePolicyKind, p.ObjectMeta), latest, ready, msg)
		if opts.wide {
			ref := p.Spec.ImageRepositoryRef
			repo := ref.Name
			if ref.Namespace != "" && ref.Namespace != p.Namespace {
				repo = ref.Namespace + "/" + ref.Name
			}
			cells = append(cells, digest, prev, repo)
		}
		row(w, cells...)
	}
}

func automationTable(w io.Writer, autos []imagev1.ImageUpdateAutomation, opts tableOptions) {
	head := append(nameHeaders(opts), "LAST RUN", "LAST PUSH", "SUSPENDED", "READY", "MESSAGE")
	if opts.wide {
		head = append(head, "LAST COMMIT", "SOURCE REVISION", "PULL REQUEST")
	}
	row(w, head...)
	for _, a := range autos {
		run, push, commit, rev, pr := "-", "-", "-", "-", "-"
		if t := a.Status.LastAutomationRunTime; t != nil {
			run = timeCell(*t)
		}
		if t := a.Status.LastPushTime; t != nil {
			push = timeCell(*t)
		}
		if a.Status.LastPushCommit != "" {
			commit = a.Status.LastPushCommit
		}
		if a.Status.ObservedSourceRevision != "" {
			rev = a.Status.ObservedSourceRevision
		}
		if p := a.Status.PullRequest; p != nil {
			pr = p.URL
		}
		ready, msg := readyCells(a.Status.Conditions, opts.wide)
		cells := append(nameCells(opts, imagev1.ImageUpdateAutomationKind, a.ObjectMeta), run, push, boolCell(a.Spec.Suspend), ready, msg)
		if opts.wide {
			cells = append(cells, commit, rev, pr)
		}
		row(w, cells...)
	}
}

func historyTable(w io.Writer, a imagev1.ImageUpdateAutomation, opts tableOptions) {
	fmt.Fprintf(w, "HISTORY OF %s/%s\n", a.Namespace, a.Name)
	if len(a.Status.History) == 0 {
		fmt.Fprintln(w, "(no runs recorded)")
		return
	}
	row(w, "TIME", "OUTCOME", "COMMIT", "DURATION", "MESSAGE")
	for _, h := range a.Status.History {
		commit, dur := "-", "-"
		if h.Commit != "" {
			commit = shortCommit(h.Commit)
			if opts.wide {
				commit = h.Commit
			}
		}
		if h.Duration != nil {
			dur = h.Duration.Duration.String()
		}
		row(w, timeCell(h.Time), string(h.Outcome), commit, dur, cellText(h.Message, opts.wide))
	}
}

func readyCells(conds []metav1.Condition, wide bool) (string, string) {
	c := meta.FindStatusCondition(conds, imagev1.ReadyCondition)
	if c == nil {
		return "Unknown", "-"
	}
	return string(c.Status), cellText(c.Message, wide)
}

// cellText keeps a table on one line per object: newlines and tabs become
// spaces, and long messages are cut unless wide.
func cellText(s string, wide bool) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	if r := []rune(s); !wide && len(r) > 100 {
		return string(r[:99]) + "…"
	}
	return s
}

func timeCell(t metav1.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}

func boolCell(b bool) string { return strconv.FormatBool(b) }
