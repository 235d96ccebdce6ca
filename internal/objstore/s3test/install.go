// Package s3test runs a real S3 server for tests: versitygw (Apache-2.0), on
// loopback, with TLS from a throw-away CA, versioning and Object Lock. The binary
// is installed with `go install` into the project's git-ignored .tools/bin the
// first time a test needs it, so a fresh machine needs nothing but `make test`.
package s3test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Version is the versitygw release the tests run.
const Version = "v1.8.0"

const modulePath = "github.com/versity/versitygw/cmd/versitygw"

// BinaryEnv names an environment variable that points at a versitygw binary to use
// instead of the installed one.
const BinaryEnv = "INFRABACKUP_VERSITYGW"

// Binary returns the path of the versitygw binary, installing it first when it is
// missing. Concurrent test processes (go test runs packages in parallel) wait for
// one install through a lock file.
func Binary(tb testing.TB) string {
	tb.Helper()
	p, err := BinaryPath()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// BinaryPath is Binary for callers without a test (TestMain).
func BinaryPath() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		return p, nil
	}
	p, err := install()
	if err != nil {
		return "", fmt.Errorf("versitygw %s is needed for the S3 tests: %w", Version, err)
	}
	return p, nil
}

func install() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	binDir := filepath.Join(root, ".tools", "bin")
	bin := filepath.Join(binDir, "versitygw-"+Version)
	if isExecutable(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(root, ".tools", "versitygw.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", err
	}
	// Closing only releases the file: the lock itself is released by LOCK_UN below.
	defer func() { _ = lock.Close() }()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer func() { _ = unix.Flock(int(lock.Fd()), unix.LOCK_UN) }()
	if isExecutable(bin) { // installed by another process while this one waited
		return bin, nil
	}

	goBin, err := exec.LookPath("go") // go test puts its own go first on PATH
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Join(root, ".tools"), "install-")
	if err != nil {
		return "", err
	}
	// A scratch folder in .tools: what is left of a failed removal is git-ignored and
	// changes no later install.
	defer func() { _ = os.RemoveAll(tmp) }()
	cmd := exec.Command(goBin, "install", modulePath+"@"+Version)
	cmd.Dir = tmp // outside the project's module: install resolves versitygw's own go.mod
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	fmt.Fprintf(os.Stderr, "s3test: installing versitygw %s into %s (once; takes a minute or two)\n", Version, binDir)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go install %s@%s failed (it needs the Go module proxy): %v\n%s", modulePath, Version, err, out.String())
	}
	if err := os.Rename(filepath.Join(tmp, "versitygw"), bin); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "s3test: installed versitygw %s in %s\n", Version, time.Since(start).Round(time.Second))
	return bin, nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// moduleRoot is the folder holding go.mod, above the test's working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run the tests from the project")
		}
		dir = parent
	}
}
