package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore/s3test"
)

// backupStore is where the provider keeps the backups of a scenario: the store
// arguments of its provider block and what they need from the environment.
type backupStore struct {
	args string   // HCL: backup_dir = "…", or an s3 block
	env  []string // the bucket's keys, as a CI job passes them
}

func localStore(dir string) backupStore {
	return backupStore{args: fmt.Sprintf("backup_dir = %q", dir)}
}

// benchBucket is the bucket of a local S3 server (versitygw over TLS, as the tests
// run it) that a scenario writes to. Its data is on the same disk as the local store's.
type benchBucket struct {
	srv    *s3test.Server
	name   string
	caFile string // PEM of the CA that signed the server's certificate
	client *s3.Client
}

// startBucket starts versitygw with its data, certificate and CA under dir and
// creates the bucket "bench".
func startBucket(ctx context.Context, dir string) (*benchBucket, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// The simulators run in a process of their own, which keeps its CA's key: the
	// S3 server gets a CA of its own, given to each client like the devices' CA.
	ca, err := devicesim.NewCA()
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		return nil, err
	}
	srv, err := s3test.Launch(ca, dir)
	if err != nil {
		return nil, err
	}
	k := &benchBucket{srv: srv, name: "bench", caFile: caFile, client: srv.Client()}
	if _, err := k.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(k.name)}); err != nil {
		srv.Stop()
		return nil, fmt.Errorf("create bucket %s: %w", k.name, err)
	}
	return k, nil
}

func (k *benchBucket) stop() { k.srv.Stop() }

// store is the provider's s3 block for the bucket; the keys come from the
// environment, as in a CI job.
func (k *benchBucket) store() backupStore {
	return backupStore{
		args: fmt.Sprintf(`s3 = {
    bucket         = %q
    region         = %q
    endpoint       = %q
    use_path_style = true
    ca_cert_pem    = file(%q)
  }`, k.name, s3test.Region, k.srv.Endpoint, k.caFile),
		env: append(k.credentialsEnv(), "AWS_EC2_METADATA_DISABLED=true"),
	}
}

func (k *benchBucket) credentialsEnv() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + k.srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + k.srv.SecretKey}
}

// removeUnder deletes the objects whose keys start with prefix.
func (k *benchBucket) removeUnder(prefix string) error {
	ctx := context.Background()
	pages := s3.NewListObjectsV2Paginator(k.client, &s3.ListObjectsV2Input{Bucket: aws.String(k.name), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			if _, err := k.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(k.name), Key: o.Key}); err != nil {
				return err
			}
		}
	}
	return nil
}

// expectSize checks that the largest object whose key starts with prefix has size
// bytes: the upload being timed really stored the backup.
func (k *benchBucket) expectSize(prefix string, size int64) error {
	var largest int64
	pages := s3.NewListObjectsV2Paginator(k.client, &s3.ListObjectsV2Input{Bucket: aws.String(k.name), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			largest = max(largest, aws.ToInt64(o.Size))
		}
	}
	if largest != size {
		return fmt.Errorf("s3://%s/%s holds %d bytes, not the %d of the backup", k.name, prefix, largest, size)
	}
	return nil
}

// withBucket runs a scenario against a fresh bucket under the workspace.
func (b *bench) withBucket(name string, scenario func(*benchBucket) error) error {
	k, err := startBucket(b.ctx, filepath.Join(b.ws.Dir, name+"-s3"))
	if err != nil {
		return err
	}
	defer k.stop()
	return scenario(k)
}
