package monitors

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/secopsd/secopsd/internal/config"
)

// targetServerEnv makes the test binary act as the loopback target server
// of BenchmarkScheduler10kTargets, in its own process, so that the CPU the
// targets use is not counted as the scheduler's.
const targetServerEnv = "SECOPSD_BENCH_TARGET_SERVER"

func TestMain(m *testing.M) {
	if n := os.Getenv(targetServerEnv); n != "" {
		serveTargets(n)
		return
	}
	os.Exit(m.Run())
}

// serveTargets listens on n loopback ports ("hosts"), prints their
// addresses, and answers every request 200 until stdin closes.
func serveTargets(n string) {
	var count int
	fmt.Sscan(n, &count)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	for range count {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(l.Addr().String())
		go http.Serve(l, h)
	}
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
}

// cpuTime is the user+system CPU this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkScheduler10kTargets schedules 10,000 http monitors "@every 60s"
// (±10 % jitter) against loopback targets served by another process and
// lets them run for one full minute. It reports the probe rate, the CPU the
// daemon side used (in cores) and the peak Go memory, and fails if any
// target was not probed within the minute or any probe failed.
// SECOPSD_BENCH_WINDOW shortens or lengthens the window (default 62s).
func BenchmarkScheduler10kTargets(b *testing.B) {
	const targets, hosts = 10_000, 20
	window := 62 * time.Second
	if w := os.Getenv("SECOPSD_BENCH_WINDOW"); w != "" {
		d, err := time.ParseDuration(w)
		if err != nil {
			b.Fatal(err)
		}
		window = d
	}
	srv := exec.Command(os.Args[0])
	srv.Env = append(os.Environ(), targetServerEnv+"="+fmt.Sprint(hosts))
	stdin, _ := srv.StdinPipe()
	stdout, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); srv.Wait() }()
	var addrs []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "ready" {
		if strings.HasPrefix(sc.Text(), "error") {
			b.Fatal(sc.Text())
		}
		addrs = append(addrs, sc.Text())
	}
	if len(addrs) != hosts {
		b.Fatalf("target server gave %d addresses", len(addrs))
	}

	mons := make([]config.Monitor, targets)
	for i := range mons {
		mons[i] = config.Monitor{
			Name: fmt.Sprintf("t%05d", i), Type: "http", Schedule: "@every 60s",
			Timeout: config.Duration(10 * time.Second), RecoverAfter: 1,
			HTTP: &config.HTTPMonitor{URL: fmt.Sprintf("http://%s/health/%d", addrs[i%hosts], i), Method: "GET",
				Expect: config.HTTPExpect{Status: 200}},
		}
	}
	var probed sync.Map
	var runs, failures atomic.Int64
	s, err := NewScheduler(SchedulerOptions{
		Monitors:    mons,
		Env:         Env{UserAgent: "bench", Hosts: NewHostLimiter(config.DefaultPerHost)},
		Concurrency: config.DefaultConcurrency,
		Jitter:      config.DefaultJitter,
		Sink: func(_ context.Context, r Result) {
			runs.Add(1)
			if !r.Success {
				failures.Add(1)
			}
			probed.Store(r.Monitor, true)
		},
	})
	if err != nil {
		b.Fatal(err)
	}

	runtime.GC()
	samples := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	var peak uint64
	sample := func() {
		metrics.Read(samples)
		if used := samples[0].Value.Uint64() - samples[1].Value.Uint64(); used > peak {
			peak = used
		}
	}
	b.ResetTimer()
	cpu0, t0 := cpuTime(), time.Now()
	s.Start()
	tick := time.NewTicker(250 * time.Millisecond)
	for deadline := time.After(window); ; {
		select {
		case <-tick.C:
			sample()
			continue
		case <-deadline:
		}
		break
	}
	tick.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed, cpu := time.Since(t0), cpuTime()-cpu0
	b.StopTimer()
	sample()

	n := 0
	probed.Range(func(_, _ any) bool { n++; return true })
	cores := cpu.Seconds() / elapsed.Seconds()
	b.ReportMetric(float64(runs.Load())/elapsed.Seconds(), "probes/s")
	b.ReportMetric(cores, "cores")
	b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
	b.ReportMetric(float64(n), "targets-probed")
	if f := failures.Load(); f > 0 {
		b.Errorf("%d of %d probes failed", f, runs.Load())
	}
	if window >= 61*time.Second && n != targets {
		b.Errorf("only %d of %d targets probed within %s", n, targets, window)
	}
}
