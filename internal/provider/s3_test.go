package provider

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	tfjson "github.com/hashicorp/terraform-json"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/objstore/s3test"
	"github.com/infrabackup/terraform-provider-infrabackup/internal/testkit"
)

// s3Bucket is a bucket on a versitygw server that one test owns, served with a
// certificate from the simulators' CA, so that s3.ca_cert_pem is what makes TLS work.
type s3Bucket struct {
	srv    *s3test.Server
	name   string
	prefix string // the provider's s3.key_prefix, "" for none
}

// startS3 starts a versitygw server for e's test and creates a bucket on it (with
// Object Lock when objectLock is set).
func (e *simEnv) startS3(objectLock bool) *s3Bucket {
	e.t.Helper()
	e.requireAcceptance()
	srv := s3test.StartWithCA(e.t, e.ca)
	return &s3Bucket{srv: srv, name: srv.NewBucket(e.t, objectLock)}
}

// store is the provider's s3 argument for b, with the server's root keys.
func (b *s3Bucket) store(opts ...option) option {
	base := []option{
		set("bucket", b.name),
		set("endpoint", b.srv.Endpoint),
		set("use_path_style", true),
		set("ca_cert_pem", string(b.srv.CAPEM)),
		set("access_key", b.srv.AccessKey),
		set("secret_key", b.srv.SecretKey),
	}
	if b.prefix != "" {
		base = append(base, set("key_prefix", b.prefix))
	}
	return set("s3", object(append(base, opts...)...))
}

// s3Provider is e's provider block with b as the store instead of a folder.
func (e *simEnv) s3Provider(b *s3Bucket, opts ...option) *block {
	return e.provider(append([]option{unset("backup_dir"), b.store()}, opts...)...)
}

// bucketKey is the key in the bucket of the store's key.
func (b *s3Bucket) bucketKey(key string) string {
	if b.prefix == "" {
		return key
	}
	return b.prefix + "/" + key
}

// read returns an object's bytes and the SHA-256 checksum the server stored for it.
func (b *s3Bucket) read(ctx context.Context, key string) ([]byte, string, error) {
	c := b.srv.Client()
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.name), Key: aws.String(b.bucketKey(key))})
	if err != nil {
		return nil, "", fmt.Errorf("get s3://%s/%s: %w", b.name, b.bucketKey(key), err)
	}
	data, err := io.ReadAll(out.Body)
	_ = out.Body.Close()
	if err != nil {
		return nil, "", err
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.name), Key: aws.String(b.bucketKey(key)),
		ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		return nil, "", err
	}
	return data, aws.ToString(head.ChecksumSHA256), nil
}

// keys lists every key in the bucket, sorted.
func (b *s3Bucket) keys(t *testing.T) []string {
	t.Helper()
	k := b.srv.Keys(t, b.name)
	sort.Strings(k)
	return k
}

// stateFiles is the files list of the resource or data source at address.
func stateFiles(s *tfjson.State, address string) ([]map[string]any, error) {
	if s == nil || s.Values == nil || s.Values.RootModule == nil {
		return nil, errors.New("the state holds no resources")
	}
	for _, r := range s.Values.RootModule.Resources {
		if r.Address != address {
			continue
		}
		v, err := tfjsonpath.Traverse(r.AttributeValues, tfjsonpath.New("files"))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", address, err)
		}
		list, _ := v.([]any)
		var out []map[string]any
		for _, e := range list {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s: files holds %T", address, e)
			}
			out = append(out, m)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s is not in the state", address)
}

func text(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// inBucket checks every file res recorded in the store: it is in the bucket at the
// recorded location, its bytes have the recorded size and SHA-256, and the server
// stored that SHA-256 as the object's checksum (it verified what it received). A
// file on an SCP server is checked there. It fails when res recorded no file in
// the store, and it records nothing local (path is null).
func (e *simEnv) inBucket(b *s3Bucket, res string) checkFunc {
	return func(s *tfjson.State) error {
		files, err := stateFiles(s, res)
		if err != nil {
			return err
		}
		stored := 0
		for i, f := range files {
			key := text(f["key"])
			if key == "" {
				if err := e.fileOnSCPServerOf(res, i)(s); err != nil {
					return err
				}
				continue
			}
			stored++
			if p := text(f["path"]); p != "" {
				return fmt.Errorf("%s: files.%d has a local path %q with an S3 store", res, i, p)
			}
			if want := "s3://" + b.name + "/" + b.bucketKey(key); text(f["location"]) != want {
				return fmt.Errorf("%s: files.%d.location is %q, want %q", res, i, text(f["location"]), want)
			}
			data, checksum, err := b.read(context.Background(), key)
			if err != nil {
				return fmt.Errorf("%s: files.%d: %w", res, i, err)
			}
			sum := sha256.Sum256(data)
			if got := hex.EncodeToString(sum[:]); got != text(f["sha256"]) {
				return fmt.Errorf("%s: %s holds bytes with SHA-256 %s, the state records %s", res, key, got, text(f["sha256"]))
			}
			if fmt.Sprint(len(data)) != text(f["size"]) {
				return fmt.Errorf("%s: %s holds %d bytes, the state records %s", res, key, len(data), text(f["size"]))
			}
			if want := serverChecksum(data); checksum != want {
				return fmt.Errorf("%s: the server's SHA-256 checksum of %s is %q, want %q", res, key, checksum, want)
			}
		}
		if stored == 0 {
			return fmt.Errorf("%s recorded no file in the store", res)
		}
		return nil
	}
}

// serverChecksum is the SHA-256 checksum S3 stores for an object uploaded by the
// provider: of the whole object when it went in one request, else the composite of
// its parts ("<base64 SHA-256 of the parts' SHA-256s>-<parts>") of the default part size.
func serverChecksum(data []byte) string {
	if int64(len(data)) <= objstore.DefaultPartSize {
		sum := sha256.Sum256(data)
		return base64.StdEncoding.EncodeToString(sum[:])
	}
	var sums []byte
	parts := 0
	for off := 0; off < len(data); off += objstore.DefaultPartSize {
		part := sha256.Sum256(data[off:min(off+objstore.DefaultPartSize, len(data))])
		sums = append(sums, part[:]...)
		parts++
	}
	sum := sha256.Sum256(sums)
	return fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(sum[:]), parts)
}

// bucketHoldsExactly checks that the bucket holds exactly the backups the state
// records for the resources at addresses: their files and records, and nothing
// else (no reservation, no partial upload, no object outside the key prefix).
func bucketHoldsExactly(t *testing.T, b *s3Bucket, addresses ...string) checkFunc {
	return func(s *tfjson.State) error {
		var want []string
		for _, address := range addresses {
			files, err := stateFiles(s, address)
			if err != nil {
				return err
			}
			for _, f := range files {
				if k := text(f["key"]); k != "" {
					want = append(want, b.bucketKey(k))
				}
			}
			id, err := attrText(s, address, "id")
			if err != nil {
				return err
			}
			family := "aruba"
			if strings.HasPrefix(address, "infrabackup_ilo_") {
				family = "ilo"
			}
			if strings.HasPrefix(address, "infrabackup_apstra_") {
				family = "apstra"
			}
			want = append(want, b.bucketKey(family+"/"+id+".json"))
		}
		sort.Strings(want)
		if got := b.keys(t); !slices.Equal(got, want) {
			return fmt.Errorf("the bucket holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if open := b.srv.OpenUploads(t, b.name); len(open) != 0 {
			return fmt.Errorf("multipart uploads left open: %v", open)
		}
		return nil
	}
}

// noOpenSessions checks that no device of e has a session open after the apply.
func (e *simEnv) noOpenSessions() checkFunc {
	return deviceCheck(func() error {
		for _, c := range e.conductors {
			if n := c.Conductor.OpenSessions(); n != 0 {
				return fmt.Errorf("conductor %s has %d open sessions", c.Conductor.Name(), n)
			}
		}
		for _, d := range e.ilos {
			if n := d.OpenSessions(); n != 0 {
				return fmt.Errorf("iLO %s has %d open sessions", d.Name(), n)
			}
		}
		return nil
	})
}

// remember is a check that keeps the values at dotted of address for later steps.
func remember(into map[string]string, address string, dotted ...string) checkFunc {
	return func(s *tfjson.State) error {
		for _, d := range dotted {
			v, err := attrText(s, address, d)
			if err != nil {
				return err
			}
			into[address+"."+d] = v
		}
		return nil
	}
}

// TestAccS3_fleetLandsInTheBucketAndAnotherConfigurationReadsIt: three conductors
// with SCP and two iLOs back up into a bucket (TLS trusting the simulators' CA
// through s3.ca_cert_pem, a key prefix): every object is in the bucket with the
// bytes the state records, checked by the server's own SHA-256, and nothing else
// is; no session stays open, and nothing is written locally. Then a second
// configuration (another working folder, a provider with only the bucket, no
// device credentials) finds every device's latest backup through the data sources.
func TestAccS3_fleetLandsInTheBucketAndAnotherConfigurationReadsIt(t *testing.T) {
	e := newSimEnv(t)
	e.startSFTP()
	b := e.startS3(false)
	b.prefix = "site-a/weekly"
	blocks := []*block{e.s3Provider(b)}
	var addresses []string
	var checks []checkFunc
	for i := 1; i <= 3; i++ {
		c := e.addConductor(fmt.Sprintf("mc-%d", i), nil)
		name := fmt.Sprintf("mc%d", i)
		blocks = append(blocks, arubaBackup(c, named(name), e.scp()))
		addresses = append(addresses, "infrabackup_aruba_conductor_backup."+name)
	}
	for i := 1; i <= 2; i++ {
		d := e.addILO(fmt.Sprintf("ilo-%d", i), nil)
		name := fmt.Sprintf("ilo%d", i)
		blocks = append(blocks, iloBackup(d, named(name)))
		addresses = append(addresses, "infrabackup_ilo_backup."+name)
	}
	recorded := map[string]string{}
	for _, a := range addresses {
		checks = append(checks, e.inBucket(b, a), remember(recorded, a, "id", "name", "files.0.location", "files.0.sha256"))
		if strings.Contains(a, "aruba") {
			checks = append(checks, remember(recorded, a, "files.1.location", "files.2.location"),
				checkFunc(func(s *tfjson.State) error {
					if v, _ := attrText(s, a, "running_config_path"); v != "" {
						return fmt.Errorf("%s: running_config_path is %q with an S3 store, want null", a, v)
					}
					return nil
				}))
		} else {
			checks = append(checks, checkFunc(func(s *tfjson.State) error {
				if v, _ := attrText(s, a, "local_path"); v != "" {
					return fmt.Errorf("%s: local_path is %q with an S3 store, want null", a, v)
				}
				return nil
			}))
		}
	}
	checks = append(checks, bucketHoldsExactly(t, b, addresses...), e.noOpenSessions())
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps:                    []resource.TestStep{{Config: hclConfig(blocks...), ConfigStateChecks: stateChecks(checks...)}},
	})
	if _, err := os.Lstat(e.backupDir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("with an S3 store, the apply created or touched the local folder %s (%v)", e.backupDir, err)
	}
	if len(recorded) != 3*6+2*4 {
		t.Fatalf("the first configuration's checks recorded %d values", len(recorded))
	}

	// Another configuration: only the bucket, nothing else of the first one.
	callsBefore := e.deviceCalls()
	reader := []*block{build(&block{kind: "provider", labels: []string{"infrabackup"}}, []option{b.store()})}
	var readChecks []checkFunc
	for _, a := range addresses {
		typ, name, _ := strings.Cut(a, ".")
		ds := "data." + typ + "." + name
		reader = append(reader, dataBlock(ds, set("name", recorded[a+".name"])))
		same := []string{"id", "files.0.location", "files.0.sha256"}
		if strings.Contains(a, "aruba") {
			same = append(same, "files.1.location", "files.2.location")
		}
		readChecks = append(readChecks, e.inBucket(b, ds), sameAs(recorded, a, ds, same...))
	}
	missing := append(slices.Clone(reader[:1]), dataBlock("data.infrabackup_aruba_conductor_backup.missing", set("name", "mc-404")))
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: hclConfig(reader...), ConfigStateChecks: stateChecks(readChecks...)},
			{
				Config:      hclConfig(missing...),
				ExpectError: errorRE(`No conductor backup found.*the backup store s3://` + b.name + `/site-a/weekly holds no complete aruba backup for name "mc-404"`),
			},
		},
	})
	if after := e.deviceCalls(); after != callsBefore {
		t.Errorf("reading backups from the bucket made %d device calls, want none", after-callsBefore)
	}
}

// sameAs checks that the data source ds reads at dotted what the resource at
// address recorded.
func sameAs(recorded map[string]string, address, ds string, dotted ...string) checkFunc {
	return func(s *tfjson.State) error {
		for _, d := range dotted {
			got, err := attrText(s, ds, d)
			if err != nil {
				return err
			}
			if want := recorded[address+"."+d]; got != want || want == "" {
				return fmt.Errorf("%s.%s is %q, the backup resource recorded %q", ds, d, got, want)
			}
		}
		return nil
	}
}

// deviceCalls is the number of calls every device of e answered so far.
func (e *simEnv) deviceCalls() int64 {
	var n int64
	for _, c := range e.conductors {
		n += c.Conductor.Stats.Snapshot().TotalCalls()
	}
	for _, d := range e.ilos {
		n += d.Stats.Snapshot().TotalCalls()
	}
	return n
}

// TestAccS3_untrustedCertificateNamesTheCASetting: an endpoint whose certificate no
// trusted CA signed fails the backup before any device is contacted, and the error
// says which setting takes the CA: with the wrong CA in s3.ca_cert_pem, and with
// none (the system's CAs).
func TestAccS3_untrustedCertificateNamesTheCASetting(t *testing.T) {
	e := newSimEnv(t)
	c := e.addConductor("mc-tls", nil)
	srv := s3test.StartWithCA(t, testkit.NewCA(t)) // not the CA the configuration trusts
	b := &s3Bucket{srv: srv, name: srv.NewBucket(t, false)}
	want := errorRE(`Backup store unavailable.*S3 check bucket s3://` + b.name + ` failed.*certificate.*s3\.ca_cert_pem.*No device was contacted`)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: hclConfig(e.provider(unset("backup_dir"), b.store(set("ca_cert_pem", string(e.ca.CertPEM)))), arubaBackup(c)), ExpectError: want},
			{Config: hclConfig(e.provider(unset("backup_dir"), b.store(unset("ca_cert_pem"))), arubaBackup(c)), ExpectError: want},
		},
	})
	if st := c.Conductor.Stats.Snapshot(); st.TotalCalls() != 0 {
		t.Errorf("the conductor was contacted although the store could not be used: %+v", st)
	}
}

// stateChecks lists checks for ConfigStateChecks.
func stateChecks(checks ...checkFunc) []statecheck.StateCheck {
	out := make([]statecheck.StateCheck, len(checks))
	for i, c := range checks {
		out[i] = c
	}
	return out
}

// TestAccS3_credentialsNeverLeak runs backups into a bucket with static keys (from
// ephemeral variables, as a pipeline passes them), a retention that deletes in the
// bucket, a data source reading it, and a failing apply with a wrong secret key,
// all under TF_LOG=trace: neither the log nor any state file holds a key.
func TestAccS3_credentialsNeverLeak(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "trace.log")
	tmp := t.TempDir()
	t.Setenv("TF_LOG", "trace")
	t.Setenv("TF_ACC_LOG_PATH", logFile)
	t.Setenv("TMPDIR", tmp) // the harness's working folders, with their state files
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv(EnvArubaUsername, testArubaUser)
	t.Setenv(EnvArubaPassword, testArubaPass)
	t.Setenv(EnvILOUsername, testILOUser)
	t.Setenv(EnvILOPassword, testILOPass)
	t.Setenv("TF_VAR_scp_password", testSCPPass)

	e := newSimEnv(t)
	e.startSFTP()
	c := e.addConductor("mc-s3-secrets", nil)
	d := e.addILO("ilo-s3-secrets", nil)
	b := e.startS3(false)
	const wrongSecret = "Wrong-S3-Secret-Key-0123456789abcdefABCD"
	t.Setenv("TF_VAR_s3_access_key", b.srv.AccessKey)
	t.Setenv("TF_VAR_s3_secret_key", b.srv.SecretKey)

	config := func(trigger string, reader bool) string {
		blocks := []*block{
			e.provider(unset("backup_dir"), unset("aruba"), unset("ilo"),
				b.store(set("access_key", expr("var.s3_access_key")), set("secret_key", expr("var.s3_secret_key"))),
				set("retention", object(set("keep_last", 1)))),
			ephemeralVariable("s3_access_key"), ephemeralVariable("s3_secret_key"), ephemeralVariable("scp_password"),
			arubaBackup(c, set("trigger", trigger), e.scp(set("password_wo", expr("var.scp_password")))),
			iloBackup(d, set("trigger", trigger)),
		}
		if reader {
			blocks = append(blocks, dataBlock("data.infrabackup_ilo_backup.read", set("name", expr(iloRes+".name"))))
		}
		cfg := hclConfig(blocks...)
		for _, s := range []string{b.srv.AccessKey, b.srv.SecretKey, testArubaPass, testSCPPass, testILOPass} {
			if strings.Contains(cfg, s) {
				t.Fatal("the test configuration must not hold a secret literally")
			}
		}
		return cfg
	}
	var states []string
	readState := checkFunc(func(*tfjson.State) error {
		text, n := readTree(t, tmp, "terraform.tfstate")
		if n == 0 || !strings.Contains(text, "s3://"+b.name) {
			return fmt.Errorf("found no state file with the backups in the bucket under %s", tmp)
		}
		states = append(states, text)
		return nil
	})
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{Config: config("1", true), ConfigStateChecks: stateChecks(e.inBucket(b, arubaRes), e.inBucket(b, iloRes), readState)},
			{Config: config("2", true), ConfigStateChecks: stateChecks(e.inBucket(b, arubaRes), e.inBucket(b, iloRes),
				bucketHoldsExactly(t, b, arubaRes, iloRes), readState)},
			{
				PreConfig:   func() { t.Setenv("TF_VAR_s3_secret_key", wrongSecret) },
				Config:      config("3", false),
				ExpectError: errorRE(`Backup store unavailable.*S3 check bucket s3://` + b.name + ` failed`),
			},
		},
	})

	// The log must hold the provider's work with the bucket (its store, its
	// retention) and the failure, for the absence of keys in it to mean anything.
	log := readTraceLog(t, logFile, "backup store checked", "retention deleted old backups", "s3://"+b.name, "Backup store unavailable")
	if len(states) != 2 {
		t.Fatalf("%d state checks ran, want 2", len(states))
	}
	secrets := []string{b.srv.AccessKey, b.srv.SecretKey, wrongSecret, testArubaPass, testSCPPass, testILOPass}
	assertNoSecrets(t, "the trace log", log, secrets...)
	assertNoSecrets(t, "the state file", strings.Join(states, "\n"), secrets...)
}

// TestAccS3_configuredFromTheEnvironment: with neither backup_dir nor an s3 block,
// INFRABACKUP_S3_* choose the bucket and the SDK's standard chain finds the keys
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); then a profile of a shared
// credentials file named in the s3 block, with no key in the environment.
func TestAccS3_configuredFromTheEnvironment(t *testing.T) {
	e := newSimEnv(t)
	d := e.addILO("ilo-env", nil)
	b := e.startS3(false)
	b.prefix = "from-env"
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// This machine's own AWS configuration must play no part.
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv(EnvBackupDir, "")
	t.Setenv(EnvS3Bucket, b.name)
	t.Setenv(EnvS3KeyPrefix, b.prefix)
	t.Setenv(EnvS3Endpoint, b.srv.Endpoint)
	t.Setenv(EnvS3UsePathStyle, "true")
	t.Setenv(EnvS3CACertPEM, string(b.srv.CAPEM))
	t.Setenv("AWS_ACCESS_KEY_ID", b.srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", b.srv.SecretKey)
	credentials := filepath.Join(t.TempDir(), "credentials")
	profile := fmt.Sprintf("[backup]\naws_access_key_id = %s\naws_secret_access_key = %s\n", b.srv.AccessKey, b.srv.SecretKey)
	if err := os.WriteFile(credentials, []byte(profile), 0o600); err != nil {
		t.Fatal(err)
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:            hclConfig(e.provider(unset("backup_dir")), iloBackup(d)),
				ConfigStateChecks: stateChecks(e.inBucket(b, iloRes)),
			},
			{
				PreConfig: func() {
					t.Setenv("AWS_ACCESS_KEY_ID", "")
					t.Setenv("AWS_SECRET_ACCESS_KEY", "")
				},
				Config: hclConfig(e.provider(unset("backup_dir"), set("s3", object(set("profile", "backup"),
					set("shared_credentials_files", expr(fmt.Sprintf("[%s]", hclString(credentials))))))), iloBackup(d, set("trigger", "2"))),
				ConfigStateChecks: stateChecks(e.inBucket(b, iloRes)),
			},
		},
	})
}
