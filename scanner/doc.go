// Package scanner talks to container registries: it lists the tags of an
// image repository, resolves manifest digests, authenticates (anonymous,
// docker config, basic, bearer tokens and the cloud providers' token
// exchanges), and keeps the result of each scan in a TagStore backed by
// bbolt.
//
// It imports no Kubernetes client code and no other dockhand package:
// callers hand it an image reference, credentials, TLS material and proxy
// settings as plain Go values (a Target), and map their own objects and
// Secrets onto those with helpers such as AuthFromSecretData,
// TLSFromSecretData and ProxyFromSecretData.
//
// # Scanning
//
// A Scanner is made once per process with New and used from any goroutine.
// It keeps what scans can share: connection pools per TLS and proxy
// settings, each registry's ping answer (its auth challenge, for ten
// minutes), bearer tokens per repository and credential until they expire
// (scans that need a token being fetched wait for that one exchange), cloud
// provider credentials until shortly before they expire, and the
// HostLimiter.
//
// ListTags reads every page of /v2/NAME/tags/list. It asks for
// DefaultPageSize (1000) tags per page and, when a registry answers 400 to
// that, for FallbackPageSize (100) from then on. It follows Link headers,
// relative or absolute; an absolute link to the same host without the port
// gets the port back, a link to another host is refused. A link loop, a
// page that adds no tag yet links further, more than DefaultMaxTags
// (500,000) tags or DefaultMaxPages (10,000) pages end the scan with an
// error wrapping ErrPagination or ErrTooManyTags. Tags matching the
// Target's ExclusionList (DefaultExclusionList, `^.*\.sig$`, when nil) are
// dropped.
//
// Digest asks with HEAD for Docker-Content-Digest and falls back to GET,
// returning the index digest for a multi-arch tag, or with a platform
// ("linux/arm64", "linux/arm/v7") that platform's manifest digest.
//
// # Credentials
//
// A registry that answers with a bearer challenge names a token server (its
// realm). The realm must be https (or http for an Insecure target); on
// another host or port than the registry's, an IP literal in a private,
// loopback or link-local range is refused. The check is
// go-containerregistry's, against registries that would send clients'
// credentials to internal services: a token server on a private network is
// reached by host name, or on the registry's own address.
//
// A scan uses, in this order: the Target's basic credentials; the first
// docker config entry for the registry host (auths, matched regardless of
// scheme and path, Docker Hub's aliases folded; or credHelpers and
// credsStore, which run docker-credential-NAME programs only when the
// Scanner was made WithCredentialHelpers); the Target's Provider; else
// none. Providers:
//
//   - aws: ECR's GetAuthorizationToken through aws-sdk-go-v2 with the
//     default credential chain, the region taken from the registry host
//     (ACCOUNT.dkr.ecr.REGION.amazonaws.com); the token is reused until
//     shortly before its 12 hours are up.
//   - gcp: the metadata server's access token for the workload's service
//     account, as the password of oauth2accesstoken, for gcr.io and
//     *-docker.pkg.dev.
//   - azure: an Entra ID token by workload identity federation (the
//     AZURE_* variables the webhook sets) or managed identity (IMDS),
//     exchanged at the registry's /oauth2/exchange for an ACR refresh
//     token, for *.azurecr.io.
//
// Every provider endpoint is configurable (AWSOptions, GCPOptions,
// AzureOptions) and a provider refuses, with ErrProviderHost, to produce a
// credential for a host that is not its own.
//
// # Transport
//
// HTTPS is the default; Target.Insecure allows plain HTTP, which is never
// used otherwise, not even for localhost. TLSConfig adds CA certificates to
// the system pool and a client certificate for mutual TLS. Proxy routes
// through a proxy (default: the environment's). Target.Timeout bounds a
// whole scan; WithRequestTimeout (60s) bounds the wait for each response.
//
// # Being a good client
//
// Requests that fail with 408, 429, 500, 502, 503, 504, a timeout or a
// reset connection are retried with exponential backoff and jitter (4 tries,
// 250ms doubling to at most 10s; RetryPolicy), waiting for Retry-After when
// the registry sends one (up to 60s; longer waits end the scan with the
// Retry-After on the error). 401, 403, 404 and other statuses are not
// retried.
//
// Every request, token fetches and provider calls included, goes through a
// HostLimiter: per host, at most DefaultHostConcurrency (16) requests in
// flight and DefaultHostRequestsPerSecond (200, burst 50). Share one
// HostLimiter between Scanners with WithHostLimiter; each host queues on
// its own, so a slow registry never holds up another.
//
// # Errors
//
// Failures are *Error values carrying the host, repository, HTTP status,
// registry error code, whether a retry may help, the Retry-After, and a
// description of the credential used ("basic auth as user alice", "docker
// config entry for ghcr.io", "anonymous"), never its value; messages are
// scrubbed of the scan's secrets. Decide with errors.Is (ErrUnauthorized,
// ErrForbidden, ErrNotFound, ErrRateLimited, ErrPagination,
// ErrTooManyTags, ErrInvalid, ErrInsecureRefused, ErrProviderHost) and
// IsRetryable.
//
// # TagStore
//
// A TagStore keeps each object's tags under its own key (namespace/name),
// so two objects scanning one image with different credentials never see
// each other's tags. Lists above 4 KiB are deflated. Put returns the
// ScanResult for an object's status: tag count, scan time, revision (the
// sha256 of the sorted tags) and the ten latest tags. The store is a file:
// it survives restarts.
package scanner
