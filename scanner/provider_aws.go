package scanner

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
)

// AWSOptions configures the aws provider, which gets registry credentials
// from ECR's GetAuthorizationToken with the process's AWS identity.
type AWSOptions struct {
	// Endpoint replaces the ECR API endpoint, e.g. a local stand-in or a
	// VPC endpoint. Default: the SDK's endpoint for the registry's region.
	Endpoint string
	// Credentials replaces the SDK's default credential chain. Default:
	// the chain (environment, shared files, web identity as used by IRSA,
	// EKS pod identity, instance metadata).
	Credentials aws.CredentialsProvider
}

// ecrHost matches ECR private registry hosts and captures the account and
// region: ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn], and the
// dual-stack ACCOUNT.dkr-ecr[-fips].REGION.on.aws.
var ecrHost = regexp.MustCompile(`^([0-9]{12})\.dkr[.-]ecr(?:-fips)?\.([a-z0-9-]+)\.(?:amazonaws\.com(?:\.cn)?|on\.aws)$`)

// ParseECRHost returns the account and region of an ECR registry host;
// ok is false for any other host (ports included).
func ParseECRHost(host string) (account, region string, ok bool) {
	m := ecrHost.FindStringSubmatch(strings.ToLower(host))
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

type awsProvider struct {
	s     *Scanner
	o     AWSOptions
	cache credentialCache
}

func newAWSProvider(s *Scanner, o AWSOptions) *awsProvider {
	return &awsProvider{s: s, o: o}
}

func (p *awsProvider) credential(ctx context.Context, host string) (credential, error) {
	_, region, ok := ParseECRHost(host)
	if !ok {
		return credential{}, fmt.Errorf("%w: aws credentials are only sent to ECR registries (ACCOUNT.dkr.ecr.REGION.amazonaws.com), not %s", ErrProviderHost, host)
	}
	return p.cache.get(ctx, region, p.s.o.clock.Now, func(ctx context.Context) (credential, time.Time, error) {
		return p.fetch(ctx, region)
	})
}

func (p *awsProvider) fetch(ctx context.Context, region string) (credential, time.Time, error) {
	httpClient, err := p.s.providerClient()
	if err != nil {
		return credential{}, time.Time{}, err
	}
	var cfg aws.Config
	if p.o.Credentials != nil {
		cfg = aws.Config{Region: region, Credentials: p.o.Credentials, HTTPClient: httpClient}
	} else {
		// The credential chain keeps the SDK's own HTTP client (it honours
		// AWS_CA_BUNDLE, which ours would not); the ECR call uses ours.
		cfg, err = config.LoadDefaultConfig(ctx, config.WithRegion(region))
		if err != nil {
			return credential{}, time.Time{}, fmt.Errorf("loading AWS configuration: %w", err)
		}
	}
	client := ecr.NewFromConfig(cfg, func(o *ecr.Options) {
		o.HTTPClient = httpClient
		if p.o.Endpoint != "" {
			o.BaseEndpoint = aws.String(p.o.Endpoint)
		}
	})
	out, err := client.GetAuthorizationToken(ctx, &ecr.GetAuthorizationTokenInput{})
	if err != nil {
		return credential{}, time.Time{}, fmt.Errorf("getting an ECR authorization token in %s: %w", region, err)
	}
	if len(out.AuthorizationData) == 0 || out.AuthorizationData[0].AuthorizationToken == nil {
		return credential{}, time.Time{}, errors.New("ECR returned no authorization data")
	}
	data := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(data.AuthorizationToken))
	if err != nil {
		return credential{}, time.Time{}, errors.New("ECR authorization token is not base64")
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return credential{}, time.Time{}, errors.New("ECR authorization token is not user:password")
	}
	expires := p.s.o.clock.Now().Add(12 * time.Hour)
	if data.ExpiresAt != nil {
		expires = *data.ExpiresAt
	}
	return credential{
		cfg:         authnConfig(user, pass),
		description: fmt.Sprintf("aws provider (ECR token for %s)", region),
		secrets:     []string{pass, aws.ToString(data.AuthorizationToken)},
	}, expires, nil
}
