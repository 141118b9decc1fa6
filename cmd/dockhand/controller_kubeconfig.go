package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// clusterFlags say which cluster, user and namespace a command talks to,
// the way kubectl does: --kubeconfig, else $KUBECONFIG, else
// ~/.kube/config, else the in-cluster service account; --context picks a
// context; --namespace overrides the context's namespace ("default" when
// it has none).
type clusterFlags struct {
	kubeconfig string
	context    string
	namespace  string
}

// addClusterFlags adds --kubeconfig and --context, and -n/--namespace when
// withNamespace (the controller has no use for it).
func addClusterFlags(fs *pflag.FlagSet, f *clusterFlags, withNamespace bool) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or the in-cluster service account)")
	fs.StringVar(&f.context, "context", "", "kubeconfig context to use (default: the current context)")
	if withNamespace {
		fs.StringVarP(&f.namespace, "namespace", "n", "", "namespace of the object (default: the context's namespace, else default)")
	}
}

func (f clusterFlags) clientConfig() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: f.context}
	if f.namespace != "" {
		overrides.Context.Namespace = f.namespace
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
}

// restConfig returns the connection to the API server. Without any
// kubeconfig it falls back to the in-cluster configuration, which is how
// the controller runs in a Pod.
func (f clusterFlags) restConfig() (*rest.Config, error) {
	cfg, err := f.clientConfig().ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	return cfg, nil
}

// namespaceOrDefault returns --namespace, else the context's namespace,
// else "default".
func (f clusterFlags) namespaceOrDefault() (string, error) {
	ns, _, err := f.clientConfig().Namespace()
	if err != nil {
		return "", fmt.Errorf("reading the namespace from the kubeconfig: %w", err)
	}
	return ns, nil
}
