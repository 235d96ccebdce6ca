package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore/s3test"
)

// referenceClient is an S3 client that the provider's streaming into a bucket is
// compared with: `curl <download> | <client>`.
type referenceClient struct {
	name    string // in the figures' names
	tool    string // the executable
	install string // how to get it
	command func(k *benchBucket, dir, key string) (*exec.Cmd, error)
}

// The reference clients upload stdin as a multipart upload in parts of the
// provider's size (objstore.DefaultPartSize, 8 MiB), to the same server over TLS,
// checking its certificate against the same CA. What each does per part (seen with
// their debug output, AWS CLI 1.45 / botocore 1.43, rclone 1.60):
//   - AWS CLI (aws s3 cp -): up to 10 parts at once (its default), each with a
//     CRC32 checksum in a trailer and an unsigned payload: neither side computes a
//     SHA-256; it holds up to 10 parts in memory.
//   - rclone rcat: 4 parts at once (its default, as the provider), each with
//     Content-MD5 and a signed payload (its SHA-256, which the server checks too).
//
// The provider does what the store promises: the SHA-256 of the whole file while
// streaming (for the record) and of each part, sent as the part's checksum, which
// the server verifies; 4 parts at once; a conditional create; the run's
// reservation and the backup's record around the object. Its time, the resource's
// create, also holds its iLO session (login, two reads, the service that mints the
// backup, logout), which the references' sessions do before their clock starts.
var referenceClients = []referenceClient{
	{name: "aws_cli", tool: "aws", install: "apt-get install -y awscli", command: awsCommand},
	{name: "rclone", tool: "rclone", install: "apt-get install -y rclone", command: rcloneCommand},
}

func awsCommand(k *benchBucket, dir, key string) (*exec.Cmd, error) {
	config := filepath.Join(dir, "aws-config")
	text := fmt.Sprintf("[default]\nregion = %s\ns3 =\n  multipart_chunksize = %d\n  addressing_style = path\n", s3test.Region, objstore.DefaultPartSize)
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command("aws", "s3", "cp", "-", "s3://"+k.name+"/"+key, "--endpoint-url", k.srv.Endpoint, "--ca-bundle", k.caFile, "--only-show-errors")
	cmd.Env = append(clientEnviron(), append(k.credentialsEnv(), "AWS_CONFIG_FILE="+config, "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "no-credentials"))...)
	return cmd, nil
}

func rcloneCommand(k *benchBucket, dir, key string) (*exec.Cmd, error) {
	config := filepath.Join(dir, "rclone.conf")
	text := fmt.Sprintf("[bench]\ntype = s3\nprovider = Other\nendpoint = %s\nregion = %s\nforce_path_style = true\n", k.srv.Endpoint, s3test.Region)
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command("rclone", "rcat", "bench:"+k.name+"/"+key, "--config", config, "--ca-cert", k.caFile,
		"--s3-chunk-size", fmt.Sprintf("%dk", objstore.DefaultPartSize>>10), // a bare number would be KiB
		"--s3-no-check-bucket", "-q")
	cmd.Env = append(clientEnviron(), "RCLONE_S3_ACCESS_KEY_ID="+k.srv.AccessKey, "RCLONE_S3_SECRET_ACCESS_KEY="+k.srv.SecretKey)
	return cmd, nil
}

// clientEnviron is the bench's environment without AWS_CA_BUNDLE: each client
// trusts the bucket's CA from its own option (rclone fails when both are set).
func clientEnviron() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "AWS_CA_BUNDLE=") })
}

// iloS3: a 1 GiB iLO backup streamed into the bucket by the provider, and the same
// download piped into it by each reference client, in the same run. The machine's
// load changes within seconds, so the sides take turns for the given rounds, and
// each side's best time counts.
func (b *bench) iloS3(k *benchBucket, rounds int) error {
	sims, err := b.ws.StartSimulators("-dir", filepath.Join(b.ws.Dir, "devicesim-ilo-s3"), "-aruba", "0", "-ilo", "1",
		"-ilo-backup-size", fmt.Sprint(gib))
	if err != nil {
		return err
	}
	defer sims.Stop()
	l := sims.Listing
	d := l.Devices[0]
	dir := filepath.Join(b.ws.Dir, "ilo-s3")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var clients []referenceClient
	for _, rc := range referenceClients {
		if _, err := exec.LookPath(rc.tool); err != nil {
			fmt.Printf("ilo_s3_1gib_curl_to_%s: skipped: %s not installed (%s)\n", rc.name, rc.tool, rc.install)
			continue
		}
		clients = append(clients, rc)
	}
	st := k.store()
	env := append([]string{"TF_VAR_ilo_password=" + d.Password}, append(st.env, b.env...)...)

	type figures struct{ best, rss float64 }
	refs := map[string]*figures{}
	var prov, apply figures
	keep := func(f *figures, secs, rss float64) {
		if f.best == 0 || secs < f.best {
			f.best = secs
		}
		f.rss = max(f.rss, rss)
	}
	for round := 1; round <= rounds; round++ {
		for _, rc := range clients {
			secs, rss, err := b.referenceUpload(k, l, d, rc, dir)
			if err != nil {
				return fmt.Errorf("%s: %w", rc.name, err)
			}
			if refs[rc.name] == nil {
				refs[rc.name] = &figures{}
			}
			keep(refs[rc.name], secs, rss)
		}
		_ = b.peakRSS()
		durations, err := b.apply(filepath.Join(b.ws.Dir, "ilo-s3-apply"), iloProvider(l, st)+iloBackupResource("big", d, fmt.Sprint(round)), 1, env)
		if err != nil {
			return err
		}
		if err := k.expectSize("ilo/big/", gib); err != nil {
			return fmt.Errorf("the provider: %w", err)
		}
		// The next round finds the disk as this one found it.
		if err := k.removeUnder("ilo/big/"); err != nil {
			return err
		}
		keep(&prov, durations["big"].Seconds(), b.peakRSS())
		keep(&apply, b.lastApply.Seconds(), 0)
	}

	report("ilo_s3_1gib_rounds", rounds, "rounds (best of each side)")
	fastest := 0.0
	for _, rc := range clients {
		f := refs[rc.name]
		report("ilo_s3_1gib_curl_to_"+rc.name+"_time", f.best, "s")
		report("ilo_s3_1gib_curl_to_"+rc.name+"_peak_rss", f.rss, "MiB")
		if fastest == 0 || f.best < fastest {
			fastest = f.best
		}
	}
	report("ilo_s3_1gib_provider_time", prov.best, "s")
	// The references' times include their own start (the AWS CLI's Python takes
	// about a second here); the provider's is its create. Its whole apply, with
	// terraform's walk and the provider's start, is given for comparison.
	report("ilo_s3_1gib_provider_apply_time", apply.best, "s")
	report("ilo_s3_1gib_provider_throughput", float64(gib)/prov.best/(1<<20), "MiB/s")
	if fastest > 0 {
		report("ilo_s3_1gib_provider_vs_fastest_reference", fastest/prov.best, "x")
	} else {
		fmt.Println("ilo_s3_1gib_provider_vs_fastest_reference: skipped: no reference client installed")
	}
	report("ilo_s3_1gib_provider_peak_rss", prov.rss, "MiB")
	return nil
}

// referenceUpload times `curl <download> | <client>` into the bucket, from curl's
// start to the client's exit, and returns that time and the client's peak
// resident set (MiB). The object it wrote is checked and removed.
func (b *bench) referenceUpload(k *benchBucket, l devicesim.Listing, d devicesim.DeviceInfo, rc referenceClient, dir string) (float64, float64, error) {
	key := "reference/" + rc.name + ".bak"
	upload, err := rc.command(k, dir, key)
	if err != nil {
		return 0, 0, err
	}
	dl, err := openDownload(l, d, filepath.Join(dir, rc.name+".headers"))
	if err != nil {
		return 0, 0, err
	}
	defer dl.close()
	r, w, err := os.Pipe()
	if err != nil {
		return 0, 0, err
	}
	curl := dl.curl("-o", "-")
	curl.Stdout, curl.Stderr = w, os.Stderr
	upload.Stdin, upload.Stdout, upload.Stderr = r, os.Stderr, os.Stderr
	start := time.Now()
	if err := upload.Start(); err != nil {
		_, _ = r.Close(), w.Close() // never used
		return 0, 0, err
	}
	cerr := curl.Start()
	// The children hold the pipe's ends now; the bench's copies would keep it open.
	_, _ = r.Close(), w.Close()
	if cerr == nil {
		cerr = curl.Wait()
	}
	uerr := upload.Wait()
	secs := time.Since(start).Seconds()
	if err := errors.Join(cerr, uerr); err != nil {
		return 0, 0, err
	}
	var rss float64
	if ru, ok := upload.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = float64(ru.Maxrss) / 1024
	}
	if err := k.expectSize(key, gib); err != nil {
		return 0, 0, err
	}
	// The next upload finds the disk as this one found it.
	return secs, rss, k.removeUnder(key)
}
