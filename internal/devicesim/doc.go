// Package devicesim holds faithful simulators of the devices this provider backs up.
// They are the ground truth of every test and of the demo, so they model the quirks
// listed in shared/contracts: this file and its siblings hold what every simulated
// device shares (TLS, counters, injected faults); each device kind lives in its own
// subpackage.
package devicesim
