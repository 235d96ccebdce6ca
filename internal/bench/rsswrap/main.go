// Command rsswrap stands in for the provider binary during benchmarks: it runs the
// real provider (INFRABACKUP_REAL_PROVIDER) with the same arguments, standard streams
// and environment, and when it exits writes its peak resident set size in KiB to a
// file in INFRABACKUP_RSS_DIR.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
)

func main() {
	cmd := exec.Command(os.Getenv("INFRABACKUP_REAL_PROVIDER"), os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "rsswrap:", err)
		os.Exit(1)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	_ = cmd.Wait()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		name := filepath.Join(os.Getenv("INFRABACKUP_RSS_DIR"), fmt.Sprintf("%d.rss", cmd.Process.Pid))
		_ = os.WriteFile(name, []byte(fmt.Sprint(ru.Maxrss)), 0o644)
	}
	os.Exit(cmd.ProcessState.ExitCode())
}
