package auth

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr returns the address a request comes from: the TCP peer, or,
// when the peer is a trusted proxy, the right-most address of
// X-Forwarded-For that is not itself a trusted proxy. IPv6 clients are
// grouped by /64, the usual allocation to one site, so that rotating
// through a prefix does not evade per-address limits.
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	var addr netip.Addr
	if err == nil {
		addr = ap.Addr().Unmap()
	} else if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		addr = a.Unmap()
	}
	if addr.IsValid() && isTrusted(addr, trusted) {
		addr = forwardedFor(r.Header.Values("X-Forwarded-For"), addr, trusted)
	}
	return addr
}

// forwardedFor walks X-Forwarded-For from the right (the hop nearest to
// us) past trusted proxies and returns the first other address; peer when
// the header is absent or malformed there.
func forwardedFor(values []string, peer netip.Addr, trusted []netip.Prefix) netip.Addr {
	client := peer
	for i := len(values) - 1; i >= 0; i-- {
		hops := strings.Split(values[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				return client
			}
			client = a.Unmap()
			if !isTrusted(client, trusted) {
				return client
			}
		}
	}
	return client
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// addrKey is the rate-limit subject of an address: the address itself for
// IPv4, its /64 for IPv6, "unknown" when there is none.
func addrKey(a netip.Addr) string {
	if !a.IsValid() {
		return "unknown"
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
