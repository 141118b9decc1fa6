package main

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagev1 "github.com/dockhand-dev/dockhand/api/v1"
)

// objectsFromCluster lists the objects through the API server of the
// kubeconfig's context, and returns the namespace to show: --namespace,
// else the context's (default "default").
func objectsFromCluster(ctx context.Context, opts getOptions) (*imageObjects, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = opts.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: opts.kubecontext}
	if opts.namespace != "" {
		overrides.Context.Namespace = opts.namespace
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", &exitError{code: exitGetFailed, msg: fmt.Sprintf("reading kubeconfig: %v (or give --state FILE to read the state of dockhand run)", err)}
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", &exitError{code: exitGetFailed, msg: fmt.Sprintf("reading kubeconfig: %v", err)}
	}
	scheme := runtime.NewScheme()
	if err := imagev1.AddToScheme(scheme); err != nil {
		return nil, "", err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", &exitError{code: exitGetFailed, msg: fmt.Sprintf("connecting to the cluster: %v", err)}
	}

	var listOpts []client.ListOption
	if !opts.allNamespaces {
		listOpts = append(listOpts, client.InNamespace(ns))
	}
	objs := &imageObjects{}
	list := func(l client.ObjectList, what string) error {
		if err := c.List(ctx, l, listOpts...); err != nil {
			if meta.IsNoMatchError(err) {
				return &exitError{code: exitGetFailed, msg: fmt.Sprintf("listing %s: the %s CRDs are not installed in this cluster", what, imagev1.GroupName)}
			}
			return &exitError{code: exitGetFailed, msg: fmt.Sprintf("listing %s: %v", what, err)}
		}
		return nil
	}
	if opts.kind == getAll || opts.kind == getRepositories {
		var l imagev1.ImageRepositoryList
		if err := list(&l, "image repositories"); err != nil {
			return nil, "", err
		}
		objs.Repositories = l.Items
	}
	if opts.kind == getAll || opts.kind == getPolicies {
		var l imagev1.ImagePolicyList
		if err := list(&l, "image policies"); err != nil {
			return nil, "", err
		}
		objs.Policies = l.Items
	}
	if opts.kind == getAll || opts.kind == getUpdates {
		var l imagev1.ImageUpdateAutomationList
		if err := list(&l, "image update automations"); err != nil {
			return nil, "", err
		}
		objs.Automations = l.Items
	}
	return objs, ns, nil
}
