package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/stratacache/stratacache/actors"
)

// testPKI makes a CA and one certificate for 127.0.0.1 signed by it, usable
// as both server and client certificate.
func testPKI(t *testing.T) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "stratacache test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "peer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestPeerMutualTLS(t *testing.T) {
	pool, cert := testPKI(t)
	mtls := &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: pool, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	}
	_, nodes := startCluster(t, 2, clusterOpts{cfg: func(_ int, c *Config) { c.PeerTLS = mtls }})
	id := kvID("over-mtls")
	store(t, nodes[1], id, payloadOf(3, 1<<20))
	waitFor(t, 5*time.Second, "owner gossiped", func() bool { return ownerSeen(nodes[:1], id, "n2") })
	if _, err := nodes[0].eng.Load(context.Background(), nil, id, actors.Chain()); err != nil {
		t.Fatalf("fetch over mutual TLS: %v", err)
	}
	// A peer that trusts the CA but has no client certificate is refused.
	noCert := &Config{NodeName: "anon", Epoch: 1, Dialer: &net.Dialer{}, MaxIdleConns: 1, MaxArtifactBytes: 1 << 20,
		PeerTLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	p := newPeerPool(noCert, nil)
	defer p.close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, _, _, err := p.fetch(ctx, nodes[1].n.PeerAddr(), id, nil); err == nil {
		t.Fatal("a peer without a client certificate fetched")
	}
	// Plain TCP to a TLS peer fails too.
	plain := &Config{NodeName: "plain", Epoch: 1, Dialer: &net.Dialer{}, MaxIdleConns: 1, MaxArtifactBytes: 1 << 20}
	p2 := newPeerPool(plain, nil)
	defer p2.close()
	if _, _, _, err := p2.fetch(ctx, nodes[1].n.PeerAddr(), id, nil); err == nil {
		t.Fatal("a plain-TCP peer fetched from a TLS peer")
	}
}
