package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestScratchPhases(t *testing.T) {
	cl, err := startCluster(5)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.stop()
	for _, c := range contenders() {
		if !strings.Contains(os.Getenv("ONLY"), c.name) {
			continue
		}
		for _, n := range []int{3, 5} {
			l, err := c.open(cl.addrs(n))
			if err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("scratch:%s:%d", c.name, n)
			var acq, tries, tryOK, unl, tryNo atomic.Int64
			var stop atomic.Bool
			var wg sync.WaitGroup
			var per [16]atomic.Int64
			var extra []locks
			for g := range 16 {
				li := l
				if os.Getenv("SEP") != "" && g > 0 {
					li, _ = c.open(cl.addrs(n))
					extra = append(extra, li)
				}
				h, _ := li.handle(name)
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := context.Background()
					for !stop.Load() {
						t0 := time.Now()
						ok, err := h.try(ctx)
						d := time.Since(t0)
						tries.Add(1)
						if err != nil {
							t.Error(err)
							return
						}
						if ok {
							acq.Add(1)
							per[g].Add(1)
							tryOK.Add(int64(d))
							t1 := time.Now()
							h.release(ctx)
							unl.Add(int64(time.Since(t1)))
						} else {
							tryNo.Add(int64(d))
						}
					}
				}()
			}
			time.Sleep(2 * time.Second)
			stop.Store(true)
			wg.Wait()
			a := acq.Load()
			fmt.Printf("%s N=%d acq/s=%d tryOK=%v unlock=%v tryNo=%v cycle=%v\n", c.name, n, a/2,
				time.Duration(tryOK.Load()/a), time.Duration(unl.Load()/a), time.Duration(tryNo.Load()/(tries.Load()-a)), 2*time.Second/time.Duration(a))
			var ps []int64
			for i := range per {
				ps = append(ps, per[i].Load())
			}
			fmt.Println("  per goroutine:", ps)
			l.close()
			for _, e := range extra {
				e.close()
			}
		}
	}
}
