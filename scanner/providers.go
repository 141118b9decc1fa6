package scanner

import (
	"context"
	"fmt"
)

// AWSOptions configures the aws provider.
type AWSOptions struct{}

// GCPOptions configures the gcp provider.
type GCPOptions struct{}

// AzureOptions configures the azure provider.
type AzureOptions struct{}

type awsProvider struct{}
type gcpProvider struct{}
type azureProvider struct{}

func newAWSProvider(*Scanner, AWSOptions) *awsProvider       { return &awsProvider{} }
func newGCPProvider(*Scanner, GCPOptions) *gcpProvider       { return &gcpProvider{} }
func newAzureProvider(*Scanner, AzureOptions) *azureProvider { return &azureProvider{} }

func (*awsProvider) credential(context.Context, string) (credential, error) {
	return credential{}, fmt.Errorf("aws provider: not implemented")
}
func (*gcpProvider) credential(context.Context, string) (credential, error) {
	return credential{}, fmt.Errorf("gcp provider: not implemented")
}
func (*azureProvider) credential(context.Context, string) (credential, error) {
	return credential{}, fmt.Errorf("azure provider: not implemented")
}
