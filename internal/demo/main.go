// Command demo is `make demo`: it builds the provider and the device simulators,
// starts the simulators, runs `terraform apply` on examples/quickstart with the fresh
// provider (dev_overrides, no registry), and prints where every backup landed.
//
// With -s3 (`make demo-s3`) the backups go to a bucket of a local S3 server
// (versitygw, as the tests run it) instead: it applies examples/s3/pipeline, then in
// other folders examples/s3/reader, which finds the latest backups in the bucket, and
// examples/pipelines/report, the weekly report; then it lists what the bucket holds.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore/s3test"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/tfdriver"
)

// demoBucket is the bucket `make demo-s3` keeps the backups in; it stays between
// runs (under .demo/s3), so that retention has something to do.
const demoBucket = "infrabackup-demo"

func main() {
	dir := flag.String("dir", ".demo", "working folder for binaries, simulators, Terraform state and backups (kept for inspection)")
	conductors := flag.Int("aruba", 3, "number of simulated conductors")
	ilos := flag.Int("ilo", 2, "number of simulated iLOs")
	apstras := flag.Int("apstra", 1, "number of simulated Juniper Apstra servers (3 blueprints each; the snapshot over SSH too)")
	useS3 := flag.Bool("s3", false, "keep the backups in a bucket of a local S3 server (versitygw), read them back from another configuration, and list the bucket")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	repo, err := os.Getwd()
	if err == nil {
		err = run(ctx, repo, *dir, *conductors, *ilos, *apstras, *useS3)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

// run is the demo with the repository at repo (the module's root) and its files in dir.
func run(ctx context.Context, repo, dir string, conductors, ilos, apstras int, useS3 bool) error {
	step("building the provider and the device simulators")
	ws, err := tfdriver.NewWorkspace(repo, dir)
	if err != nil {
		return err
	}
	step(fmt.Sprintf("starting %d simulated Mobility Conductors, %d iLOs, %d Apstra servers and an SCP/SFTP server", conductors, ilos, apstras))
	sims, err := ws.StartSimulators("-dir", filepath.Join(ws.Dir, "devicesim"), "-aruba", fmt.Sprint(conductors), "-ilo", fmt.Sprint(ilos),
		"-apstra", fmt.Sprint(apstras), "-apstra-blueprints", "3", "-apstra-nodes", "2000", "-apstra-managed", "6", "-apstra-staging-only", "1")
	if err != nil {
		return err
	}
	defer sims.Stop()
	d, err := devicesFrom(sims.Listing)
	if err != nil {
		return err
	}
	if useS3 {
		return runS3(ctx, repo, ws, d)
	}

	tfDir, err := prepare(repo, ws, "quickstart", filepath.Join("examples", "quickstart", "main.tf"), map[string]any{
		"backup_dir":       filepath.Join(ws.Dir, "backups"),
		"ca_cert_pem_file": d.listing.CACertFile,
		"backup_trigger":   time.Now().UTC().Format(time.RFC3339),
		"aruba_username":   d.arubaUser, "aruba_password": d.arubaPass,
		"ilo_username": d.iloUser, "ilo_password": d.iloPass,
		"apstra_username": d.apstraUser, "apstra_password": d.apstraPass,
		"conductors": d.conductors, "ilos": d.ilos, "apstras": d.apstras, "scp": d.scp,
	})
	if err != nil {
		return err
	}
	step("terraform apply (provider from " + ws.BinDir + " via dev_overrides)")
	if err := ws.Terraform(ctx, tfDir, os.Stdout, os.Stderr, nil, "apply", "-auto-approve", "-input=false"); err != nil {
		return err
	}
	if err := report(ctx, ws, tfDir, d.listing); err != nil {
		return err
	}
	step("the fleet report (data source infrabackup_backups, output fleet_summary)")
	if err := ws.Terraform(ctx, tfDir, os.Stdout, os.Stderr, nil, "output", "-raw", "fleet_summary"); err != nil {
		return err
	}
	fmt.Printf("\nLocal backup store: %s\nRun `make demo` again for a new backup of every device (the trigger changes).\n", filepath.Join(ws.Dir, "backups"))
	return nil
}

// devices is what the simulators' listing gives the configurations.
type devices struct {
	listing                                devicesim.Listing
	conductors, ilos                       map[string]any // name => {host, port}
	apstras                                map[string]any // name => {host, port, ssh}
	scp                                    map[string]any // nil without an SCP server
	arubaUser, arubaPass, iloUser, iloPass string
	apstraUser, apstraPass                 string
	conductorNames, iloNames               []string
}

func devicesFrom(l devicesim.Listing) (devices, error) {
	d := devices{listing: l, conductors: map[string]any{}, ilos: map[string]any{}, apstras: map[string]any{}}
	for _, dev := range l.Devices {
		switch dev.Kind {
		case "aruba_conductor":
			d.conductors[dev.Name] = map[string]any{"host": dev.Host, "port": dev.Port}
			d.conductorNames = append(d.conductorNames, dev.Name)
			d.arubaUser, d.arubaPass = dev.Username, dev.Password
		case "ilo":
			d.ilos[dev.Name] = map[string]any{"host": dev.Host, "port": dev.Port}
			d.iloNames = append(d.iloNames, dev.Name)
			d.iloUser, d.iloPass = dev.Username, dev.Password
		case "apstra":
			server := map[string]any{"host": dev.Host, "port": dev.Port, "ssh": nil}
			if dev.SSH != nil {
				host, port, err := splitHostPort(dev.SSH.Address)
				if err != nil {
					return d, fmt.Errorf("the SSH address %q of %s: %w", dev.SSH.Address, dev.Name, err)
				}
				server["ssh"] = map[string]any{"host": host, "port": port, "username": dev.SSH.Username,
					"password": dev.SSH.Password, "host_key": dev.SSH.HostKey}
			}
			d.apstras[dev.Name] = server
			d.apstraUser, d.apstraPass = dev.Username, dev.Password
		}
	}
	if l.SFTP != nil {
		host, port, err := splitHostPort(l.SFTP.Address)
		if err != nil {
			return d, fmt.Errorf("the simulators' SFTP address %q: %w", l.SFTP.Address, err)
		}
		d.scp = map[string]any{"host": host, "port": port, "username": l.SFTP.Username, "password": l.SFTP.Password, "host_key": l.SFTP.HostKey}
	}
	return d, nil
}

// pipelineApstras is the apstras variable of examples/s3/pipeline: each server's
// address and its SSH side for the snapshot.
func (d devices) pipelineApstras() map[string]any {
	out := map[string]any{}
	for _, dev := range d.listing.Devices {
		if dev.Kind != "apstra" {
			continue
		}
		server := map[string]any{"host": dev.Host, "port": dev.Port}
		if dev.SSH != nil {
			if host, port, err := splitHostPort(dev.SSH.Address); err == nil {
				server["ssh_host"], server["ssh_port"], server["ssh_host_key"] = host, port, dev.SSH.HostKey
			}
		}
		out[dev.Name] = server
	}
	return out
}

// apstraSSH is the SSH account of the simulated Apstra servers (one for all), or nil.
func (d devices) apstraSSH() *devicesim.SFTPInfo {
	for _, dev := range d.listing.Devices {
		if dev.Kind == "apstra" && dev.SSH != nil {
			return dev.SSH
		}
	}
	return nil
}

// prepare copies the configuration at example (relative to the repository) into
// the workspace folder name, with vars as its terraform.tfvars.json.
func prepare(repo string, ws *tfdriver.Workspace, name, example string, vars map[string]any) (string, error) {
	tfDir := filepath.Join(ws.Dir, name)
	if err := os.MkdirAll(tfDir, 0o755); err != nil {
		return "", err
	}
	mainTF, err := os.ReadFile(filepath.Join(repo, example))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tfDir, "main.tf"), mainTF, 0o644); err != nil {
		return "", err
	}
	varsJSON, _ := json.MarshalIndent(vars, "", "  ")
	// The variables file may hold the simulators' demo credentials: keep it private.
	return tfDir, os.WriteFile(filepath.Join(tfDir, "terraform.tfvars.json"), varsJSON, 0o600)
}

// report prints where every backup of the configuration in tfDir landed, from its
// conductor_backups, ilo_backups and apstra_backups outputs.
func report(ctx context.Context, ws *tfdriver.Workspace, tfDir string, l devicesim.Listing) error {
	backups := map[string]backupOutput{}
	for _, output := range []string{"conductor_backups", "ilo_backups", "apstra_backups"} {
		var out strings.Builder
		if err := ws.Terraform(ctx, tfDir, &out, os.Stderr, nil, "output", "-json", output); err != nil {
			return err
		}
		var some map[string]backupOutput
		if err := json.Unmarshal([]byte(out.String()), &some); err != nil {
			return fmt.Errorf("reading terraform output %s: %w", output, err)
		}
		for k, v := range some {
			backups[k] = v
		}
	}
	step("where the backups landed")
	names := make([]string, 0, len(backups))
	for n := range backups {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b := backups[n]
		switch {
		case b.Blueprints != nil:
			fmt.Printf("%s (completed %s)\n", n, b.CompletedAt)
			for _, bp := range b.Blueprints {
				fmt.Println("   ", bp)
			}
		case b.Changed != nil:
			fmt.Printf("%s (completed %s, running config changed: %v)\n", n, b.CompletedAt, *b.Changed)
		default:
			fmt.Printf("%s (completed %s, serial %s)\n", n, b.CompletedAt, b.Serial)
		}
		for _, f := range b.Files {
			if strings.HasPrefix(f, "scp://") && l.SFTP != nil {
				rel := f[strings.Index(f[len("scp://"):], "/")+len("scp://")+1:]
				f += "  (on this machine: " + filepath.Join(l.SFTP.RootDir, rel) + ")"
			}
			fmt.Println("   ", f)
		}
	}
	return nil
}

// runS3 is the demo into a bucket: the pipeline example writes, the reader example
// reads in another folder (with no device credentials), then the bucket is listed.
func runS3(ctx context.Context, repo string, ws *tfdriver.Workspace, d devices) error {
	step("starting a local S3 server (versitygw; installed into .tools/ the first time, which takes a minute or two)")
	srv, caFile, err := startS3(filepath.Join(ws.Dir, "s3"))
	if err != nil {
		return err
	}
	defer srv.Stop()
	if err := ensureBucket(ctx, srv, demoBucket); err != nil {
		return err
	}
	fmt.Printf("%s, bucket %s (data under %s)\n", srv.Endpoint, demoBucket, srv.Root)
	store := map[string]any{"bucket": demoBucket, "key_prefix": "demo", "endpoint": srv.Endpoint, "s3_ca_cert_pem_file": caFile}
	// The bucket's keys reach terraform as a CI job gives them: in the environment.
	s3Env := []string{"AWS_ACCESS_KEY_ID=" + srv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + srv.SecretKey, "AWS_EC2_METADATA_DISABLED=true"}

	vars := map[string]any{
		"backup_week":             time.Now().UTC().Format(time.RFC3339), // a new backup on every run of the demo
		"keep_last":               3,
		"keep_days":               0,
		"device_ca_cert_pem_file": d.listing.CACertFile,
		"conductors":              d.conductors, "ilos": d.ilos, "scp": d.scp,
		"apstras": d.pipelineApstras(),
	}
	if ssh := d.apstraSSH(); ssh != nil {
		vars["apstra_ssh_username"], vars["apstra_ssh_password"] = ssh.Username, ssh.Password
	}
	for k, v := range store {
		vars[k] = v
	}
	pipeline, err := prepare(repo, ws, "s3-pipeline", filepath.Join("examples", "s3", "pipeline", "main.tf"), vars)
	if err != nil {
		return err
	}
	step("terraform apply of examples/s3/pipeline: the backups go to the bucket (retention keeps each device's newest 3)")
	deviceEnv := []string{"ARUBA_USERNAME=" + d.arubaUser, "ARUBA_PASSWORD=" + d.arubaPass, "ILO_USERNAME=" + d.iloUser, "ILO_PASSWORD=" + d.iloPass,
		"APSTRA_USER=" + d.apstraUser, "APSTRA_PASS=" + d.apstraPass}
	if err := ws.Terraform(ctx, pipeline, os.Stdout, os.Stderr, append(s3Env, deviceEnv...), "apply", "-auto-approve", "-input=false"); err != nil {
		return err
	}
	if err := report(ctx, ws, pipeline, d.listing); err != nil {
		return err
	}

	apstraNames := make([]string, 0, len(d.apstras))
	for name := range d.apstras {
		apstraNames = append(apstraNames, name)
	}
	readerVars := map[string]any{"conductors": d.conductorNames, "ilos": d.iloNames, "apstras": apstraNames}
	for k, v := range store {
		readerVars[k] = v
	}
	reader, err := prepare(repo, ws, "s3-reader", filepath.Join("examples", "s3", "reader", "main.tf"), readerVars)
	if err != nil {
		return err
	}
	step("terraform apply of examples/s3/reader, another configuration: the latest backups, found in the bucket")
	if err := ws.Terraform(ctx, reader, io.Discard, os.Stderr, s3Env, "apply", "-auto-approve", "-input=false"); err != nil {
		return err
	}
	if err := ws.Terraform(ctx, reader, os.Stdout, os.Stderr, nil, "output"); err != nil {
		return err
	}

	reportVars := map[string]any{"max_age": "8d"}
	for k, v := range store {
		reportVars[k] = v
	}
	weekly, err := prepare(repo, ws, "s3-report", filepath.Join("examples", "pipelines", "report", "main.tf"), reportVars)
	if err != nil {
		return err
	}
	step("terraform apply of examples/pipelines/report, the weekly report of the pipelines' examples: every device in the bucket")
	if err := ws.Terraform(ctx, weekly, io.Discard, os.Stderr, s3Env, "apply", "-auto-approve", "-input=false"); err != nil {
		return err
	}
	if err := ws.Terraform(ctx, weekly, os.Stdout, os.Stderr, nil, "output", "-raw", "summary_markdown"); err != nil {
		return err
	}

	step("what the bucket holds")
	if err := listBucket(ctx, srv, demoBucket); err != nil {
		return err
	}
	fmt.Printf("\nRun `make demo-s3` again for a new backup of every device; retention then deletes all but the newest 3 of each.\n")
	return nil
}

// startS3 runs versitygw with a certificate from a new CA (written to dir/ca.pem for
// the configurations' s3.ca_cert_pem), keeping its buckets in dir across runs.
func startS3(dir string) (*s3test.Server, string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", err
	}
	ca, err := devicesim.NewCA()
	if err != nil {
		return nil, "", err
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		return nil, "", err
	}
	srv, err := s3test.Launch(ca, dir)
	return srv, caFile, err
}

// ensureBucket creates bucket unless it exists (from an earlier run).
func ensureBucket(ctx context.Context, srv *s3test.Server, bucket string) error {
	c := srv.Client()
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err == nil {
		return nil
	}
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}

// listBucket prints every object of bucket with its size and the SHA-256 of its
// bytes, read back through the same S3 client code the provider uses, and whether
// the server stored that SHA-256 as the object's checksum.
func listBucket(ctx context.Context, srv *s3test.Server, bucket string) error {
	bkt, err := objstore.NewS3(ctx, srv.Config(bucket))
	if err != nil {
		return err
	}
	objs, err := bkt.List(ctx, "")
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return errors.New("the bucket is empty")
	}
	var total int64
	for _, o := range objs {
		sum, verified, err := hashObject(ctx, bkt, o.Key)
		if err != nil {
			return err
		}
		note := ""
		if verified {
			note = "  (the server verified this SHA-256)"
		}
		fmt.Printf("s3://%s/%-62s %9d  sha256 %s%s\n", bucket, o.Key, o.Size, sum, note)
		total += o.Size
	}
	fmt.Printf("%d objects, %d bytes\n", len(objs), total)
	return nil
}

// hashObject reads key and returns the SHA-256 of its bytes, and whether the server
// stored that SHA-256 as the object's checksum (it verified what it received).
func hashObject(ctx context.Context, bkt *objstore.S3, key string) (string, bool, error) {
	r, _, err := bkt.Open(ctx, key)
	if err != nil {
		return "", false, err
	}
	defer func() { _ = r.Close() }() // only read: closing cannot lose anything
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return "", false, err
	}
	sum := h.Sum(nil)
	stat, err := bkt.Stat(ctx, key)
	if err != nil {
		return "", false, err
	}
	return hex.EncodeToString(sum), stat.ServerChecksum == base64.StdEncoding.EncodeToString(sum), nil
}

// backupOutput is one entry of a configuration's conductor_backups, ilo_backups or
// apstra_backups output.
type backupOutput struct {
	CompletedAt string   `json:"completed_at"`
	Changed     *bool    `json:"running_config_changed"`
	Serial      string   `json:"serial_number"`
	Blueprints  []string `json:"blueprints"` // an Apstra backup's, one line each
	Files       []string `json:"files"`
}

func step(s string) { fmt.Printf("\n==> %s\n", s) }

func splitHostPort(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portText)
	return host, port, err
}
