package monitors

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHostLimiterBoundsRequestsPerHost(t *testing.T) {
	var inFlight, peak atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
	}))
	defer srv.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer other.Close()

	env := Env{Hosts: NewHostLimiter(2)}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if _, err := fetch(context.Background(), env, fetchRequest{URL: srv.URL}); err != nil {
				t.Errorf("fetch: %v", err)
			}
		})
	}
	// Wait until the two slots are taken, then check another host is not blocked.
	deadline := time.Now().Add(5 * time.Second)
	for inFlight.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if _, err := fetch(ctx, env, fetchRequest{URL: other.URL}); err != nil {
		t.Errorf("a busy host blocked requests to another host: %v", err)
	}
	cancel()
	// A request that cannot get a slot gives up with its context.
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	if _, err := fetch(ctx, env, fetchRequest{URL: srv.URL}); err == nil {
		t.Error("fetch got past a full host limit")
	}
	cancel()
	close(release)
	wg.Wait()
	if p := peak.Load(); p != 2 {
		t.Errorf("peak concurrent requests to one host = %d, want 2", p)
	}
	env.Hosts.mu.Lock()
	left := len(env.Hosts.slots)
	env.Hosts.mu.Unlock()
	if left != 0 {
		t.Errorf("%d host entries left after all requests finished", left)
	}
}

func TestFetchRedirectsAndCap(t *testing.T) {
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("redirect to another host was followed")
	}))
	defer elsewhere.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/big", http.StatusFound)
		case "/off":
			http.Redirect(w, r, elsewhere.URL+"/x", http.StatusFound)
		case "/big":
			w.Write([]byte(strings.Repeat("a", 100)))
		}
	}))
	defer srv.Close()
	r, err := fetch(context.Background(), Env{}, fetchRequest{URL: srv.URL + "/same", MaxBody: 10})
	if err != nil {
		t.Fatal(err)
	}
	if r.URL.Path != "/big" || len(r.Redirects) != 1 || !r.Truncated || len(r.Body) != 10 {
		t.Errorf("same-host redirect: %+v", r)
	}
	r, err = fetch(context.Background(), Env{}, fetchRequest{URL: srv.URL + "/off"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusFound || !strings.HasPrefix(r.OffHostRedirect, elsewhere.URL) {
		t.Errorf("off-host redirect: status %d, OffHostRedirect %q", r.Status, r.OffHostRedirect)
	}
	r, err = fetch(context.Background(), Env{}, fetchRequest{URL: srv.URL + "/same", NoRedirects: true})
	if err != nil || r.Status != http.StatusFound || len(r.Redirects) != 0 {
		t.Errorf("NoRedirects: %+v %v", r, err)
	}
}
