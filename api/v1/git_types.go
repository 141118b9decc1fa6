package v1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// GitSpec holds everything about the Git side of an automation: where the
// repository is (git.remote, when spec.sourceRef is not used), what to check
// out, how to commit, where to push and whether to open a pull request.
// +kubebuilder:validation:XValidation:rule="!has(self.pullRequest) || (has(self.push) && has(self.push.branch) && size(self.push.branch) > 0)",message="spec.git.pullRequest needs spec.git.push.branch, the branch the pull request is opened from",fieldPath=".pullRequest"
type GitSpec struct {
	// Remote gives the Git repository directly, for users without Flux's
	// GitRepository. Exactly one of spec.sourceRef and spec.git.remote must
	// be set. (dockhand extension.)
	// +optional
	Remote *GitRemoteSpec `json:"remote,omitempty"`

	// Checkout says what to check out before updating. When absent, the
	// ref of the referenced GitRepository is used, or the remote's default
	// branch for git.remote.
	// +optional
	Checkout *GitCheckoutSpec `json:"checkout,omitempty"`

	// Commit says how to write the commit.
	// +required
	Commit CommitSpec `json:"commit"`

	// Push says where to push. When absent, commits are pushed to the
	// checked-out branch.
	// +optional
	Push *PushSpec `json:"push,omitempty"`

	// PullRequest, when set, opens (or updates) a pull request from the
	// pushed branch (git.push.branch) into its base instead of leaving the
	// commit on the branch alone. (dockhand extension.)
	// +optional
	PullRequest *PullRequestSpec `json:"pullRequest,omitempty"`
}

// HasRefspec reports whether a push refspec is configured.
func (in GitSpec) HasRefspec() bool {
	return in.Push != nil && in.Push.Refspec != ""
}

// Git remote providers; they decide how credentials are obtained. They match
// the providers of Flux's GitRepository so a GitRepository converts to a
// git.remote field for field.
const (
	GitProviderGeneric = "generic"
	GitProviderAzure   = "azure"
	GitProviderGitHub  = "github"
)

// GitRemoteSpec locates a Git repository and the credentials to reach it.
type GitRemoteSpec struct {
	// URL of the repository: http://, https:// or ssh://.
	// +kubebuilder:validation:Pattern="^(http|https|ssh)://.*$"
	// +required
	URL string `json:"url"`

	// SecretRef names a Secret with the credentials: username and password
	// (or bearerToken) for HTTP(S); identity, known_hosts and optionally
	// password for SSH; ca.crt (and tls.crt, tls.key) for TLS. For provider
	// github: githubAppID, githubAppInstallationID and
	// githubAppPrivateKey.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// ProxySecretRef names a Secret with the proxy to use: key address (a
	// URL), and optionally username and password.
	// +optional
	ProxySecretRef *LocalObjectReference `json:"proxySecretRef,omitempty"`

	// Provider selects how credentials are obtained: generic (from
	// secretRef), azure (workload identity) or github (a GitHub App).
	// Defaults to generic.
	// +kubebuilder:validation:Enum=generic;azure;github
	// +kubebuilder:default:=generic
	// +optional
	Provider string `json:"provider,omitempty"`

	// Timeout bounds each exchange with the remote: listing its refs, a
	// fetch, a push. Defaults to 60s, as a Flux GitRepository's
	// spec.timeout does.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// GitCheckoutSpec says what to check out.
type GitCheckoutSpec struct {
	// Reference is the branch, tag, semver range, ref name or commit to
	// check out.
	// +required
	Reference GitRepositoryRef `json:"ref"`
}

// GitRepositoryRef names a Git reference, as Flux's GitRepository spec.ref
// does. When several fields are set, the most specific wins: commit, then
// name, then semver, then tag, then branch.
type GitRepositoryRef struct {
	// Branch to check out. When no field is set, the remote's default
	// branch.
	// +optional
	Branch string `json:"branch,omitempty"`

	// Tag to check out; takes precedence over Branch.
	// +optional
	Tag string `json:"tag,omitempty"`

	// SemVer is a range; the highest tag within it is checked out. Takes
	// precedence over Tag.
	// +optional
	SemVer string `json:"semver,omitempty"`

	// Name is a full reference, e.g. refs/heads/main or refs/pull/42/head;
	// takes precedence over Branch, Tag and SemVer.
	// +optional
	Name string `json:"name,omitempty"`

	// Commit is a commit SHA to check out; takes precedence over every other
	// field. Combined with Branch, the branch is fetched and the commit is
	// expected on it.
	// +optional
	Commit string `json:"commit,omitempty"`
}

// CommitSpec says how commits are written.
type CommitSpec struct {
	// Author of the commits; the email is required.
	// +required
	Author CommitUser `json:"author"`

	// SigningKey, when set, signs the commits.
	// +optional
	SigningKey *SigningKey `json:"signingKey,omitempty"`

	// MessageTemplate is a Go text/template for the commit message, given
	// the changes made. When empty, a message listing the changes is used.
	// +optional
	MessageTemplate string `json:"messageTemplate,omitempty"`

	// MessageTemplateValues are extra values available to the template as
	// .Values.
	// +optional
	MessageTemplateValues map[string]string `json:"messageTemplateValues,omitempty"`
}

// CommitUser is the identity on a commit.
type CommitUser struct {
	// Name of the author.
	// +optional
	Name string `json:"name,omitempty"`

	// Email of the author.
	// +required
	Email string `json:"email"`
}

// SigningKeyType is the kind of key a SigningKey refers to.
// +kubebuilder:validation:Enum=gpg;ssh
type SigningKeyType string

const (
	// SigningKeyGPG signs with an OpenPGP key: Secret key git.asc (an
	// ASCII-armoured private key) and optionally passphrase.
	SigningKeyGPG SigningKeyType = "gpg"
	// SigningKeySSH signs with an SSH key: Secret key identity (a private
	// key in OpenSSH or PEM form) and optionally password.
	SigningKeySSH SigningKeyType = "ssh"
)

// SigningKey refers to the key that signs commits.
type SigningKey struct {
	// SecretRef names the Secret holding the key, in the automation's
	// namespace; see Type for the keys it must contain.
	// +required
	SecretRef LocalObjectReference `json:"secretRef"`

	// Type of the key: gpg or ssh. Defaults to gpg.
	// +kubebuilder:default:=gpg
	// +optional
	Type SigningKeyType `json:"type,omitempty"`
}

// GetType returns the key type, or SigningKeyGPG when it is empty.
func (in SigningKey) GetType() SigningKeyType {
	if in.Type == "" {
		return SigningKeyGPG
	}
	return in.Type
}

// PushSpec says where commits are pushed.
type PushSpec struct {
	// Branch to push to. When it does not exist yet it is created from the
	// checked-out commit. Defaults to the checked-out branch.
	// +optional
	Branch string `json:"branch,omitempty"`

	// Refspec to push with, e.g. refs/heads/main:refs/heads/auto. With
	// Branch also set, both are pushed. Refspecs that force (leading +) or
	// delete (leading :) are refused.
	// +kubebuilder:validation:Pattern="^$|^[^+:]"
	// +optional
	Refspec string `json:"refspec,omitempty"`

	// Options are git push options (`git push -o key=value`) sent to the
	// server.
	// +optional
	Options map[string]string `json:"options,omitempty"`
}

// PullRequestProvider is the hosting service whose API opens pull requests.
// +kubebuilder:validation:Enum=github;gitlab;gitea
type PullRequestProvider string

const (
	PullRequestGitHub PullRequestProvider = "github"
	PullRequestGitLab PullRequestProvider = "gitlab"
	PullRequestGitea  PullRequestProvider = "gitea"
)

// PullRequestSpec says how to open a pull request for pushed commits.
type PullRequestSpec struct {
	// Provider is the hosting service: github, gitlab or gitea.
	// +required
	Provider PullRequestProvider `json:"provider"`

	// Base is the branch the pull request merges into. Defaults to the
	// checked-out branch.
	// +optional
	Base string `json:"base,omitempty"`

	// Title of the pull request. Defaults to the first line of the commit
	// message.
	// +optional
	Title string `json:"title,omitempty"`

	// Body of the pull request. Defaults to the rest of the commit message.
	// +optional
	Body string `json:"body,omitempty"`

	// Labels to put on the pull request.
	// +optional
	Labels []string `json:"labels,omitempty"`

	// APIURL is the root of the provider's REST API, for self-hosted
	// instances whose API is not where the remote's host suggests. Defaults
	// from the remote: https://api.github.com for github.com,
	// https://HOST/api/v3 for other GitHub hosts, https://HOST/api/v4 for
	// GitLab, https://HOST/api/v1 for Gitea.
	// +kubebuilder:validation:Pattern=`^https?://`
	// +optional
	APIURL string `json:"apiURL,omitempty"`
}
