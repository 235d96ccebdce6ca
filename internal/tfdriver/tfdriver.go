// Package tfdriver runs the freshly built provider under the real terraform binary
// against the devicesim command, for the demo and the benchmarks: it builds the
// binaries, starts the simulators, writes a CLI configuration with dev_overrides (no
// registry needed) and runs terraform.
package tfdriver

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/devicesim"
)

// ProviderAddress is the provider's registry address (dev_overrides key).
const ProviderAddress = "registry.terraform.io/infrabackup/infrabackup"

// Workspace is a folder holding the built binaries, the CLI configuration and the
// Terraform working directory.
type Workspace struct {
	Dir          string // everything lives below it
	BinDir       string // terraform-provider-infrabackup, devicesim
	CLIConfig    string
	TerraformBin string
}

// NewWorkspace builds the provider and the devicesim command from the module at
// repoRoot into dir/bin and writes a CLI configuration pointing Terraform at them.
// providerBinary, when set, is installed under the provider's name instead of the
// provider itself (the benchmark wraps the provider to measure its memory).
func NewWorkspace(repoRoot, dir string) (*Workspace, error) {
	tf, err := exec.LookPath("terraform")
	if err != nil {
		return nil, fmt.Errorf("terraform is not on PATH: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	w := &Workspace{Dir: abs, BinDir: filepath.Join(abs, "bin"), CLIConfig: filepath.Join(abs, "terraform.rc"), TerraformBin: tf}
	if err := os.MkdirAll(w.BinDir, 0o755); err != nil {
		return nil, err
	}
	for out, pkg := range map[string]string{"terraform-provider-infrabackup": ".", "devicesim": "./internal/devicesim/cmd/devicesim"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(w.BinDir, out), pkg)
		cmd.Dir = repoRoot
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go build %s: %w", pkg, err)
		}
	}
	return w, w.WriteCLIConfig(w.BinDir)
}

// WriteCLIConfig points the provider's address at pluginDir.
func (w *Workspace) WriteCLIConfig(pluginDir string) error {
	rc := fmt.Sprintf(`provider_installation {
  dev_overrides {
    %q = %q
  }
  direct {}
}
`, ProviderAddress, pluginDir)
	return os.WriteFile(w.CLIConfig, []byte(rc), 0o644)
}

// Simulators is a running devicesim command.
type Simulators struct {
	Listing devicesim.Listing
	cmd     *exec.Cmd
}

// StartSimulators runs devicesim with args and reads the listing it prints.
func (w *Workspace) StartSimulators(args ...string) (*Simulators, error) {
	cmd := exec.Command(filepath.Join(w.BinDir, "devicesim"), args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Simulators{cmd: cmd}
	if err := json.NewDecoder(bufio.NewReader(out)).Decode(&s.Listing); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("reading the devicesim listing: %w", err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return s, nil
}

// Stop interrupts the simulators and waits for them.
func (s *Simulators) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// Terraform runs terraform with args in dir, using the workspace's CLI configuration.
// Output goes to stdout/stderr (nil: discarded).
func (w *Workspace) Terraform(ctx context.Context, dir string, stdout, stderr io.Writer, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, w.TerraformBin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "TF_CLI_CONFIG_FILE="+w.CLIConfig, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1"), env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if stdout == nil {
		cmd.Stdout = io.Discard
	}
	if stderr == nil {
		cmd.Stderr = io.Discard
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("terraform %v: %w", args, err)
	}
	return nil
}
