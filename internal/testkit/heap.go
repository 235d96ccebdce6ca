package testkit

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// WatchHeap samples the heap in use until stop is called and returns its peak: tests
// that stream large bodies bound it, to prove nothing holds a whole body in memory.
func WatchHeap() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}
