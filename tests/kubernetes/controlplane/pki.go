package main

// The control plane's certificates and credentials, generated per data directory:
//
//	pki/ca.crt, ca.key             one self-signed CA that signs everything below and that
//	                               kube-apiserver trusts for client certificates (--client-ca-file)
//	pki/apiserver.crt, .key        kube-apiserver's serving certificate: 127.0.0.1, ::1, localhost
//	                               and the in-cluster names of the kubernetes Service
//	pki/admin.crt, .key            a client certificate in the group system:masters (cluster-admin)
//	pki/sa.key, sa.pub             the service-account token signing key pair
//	pki/tokens.csv                 --token-auth-file: one bearer token for the same admin user
//	admin.token                    that token alone, for clients that read a token file
//	admin.kubeconfig               server URL, CA and the admin client certificate
//
// ECDSA P-256 keys: quick to generate (RSA 2048 takes ~100 ms each on a loaded 2-core machine)
// and accepted by every Kubernetes component, including the service-account signer (ES256).

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certValidity is long enough for any test run and short enough to be obviously a test CA.
const certValidity = 7 * 24 * time.Hour

// pki names the files that generatePKI writes; every path is absolute.
type pki struct {
	Dir                                  string
	CACert, CAKey                        string
	ServingCert, ServingKey              string
	AdminCert, AdminKey                  string
	ServiceAccountKey, ServiceAccountPub string
	TokenAuthFile, AdminTokenFile        string
	AdminToken                           string
}

func pkiPaths(dataDir string) pki {
	d := filepath.Join(dataDir, "pki")
	return pki{
		Dir:               d,
		CACert:            filepath.Join(d, "ca.crt"),
		CAKey:             filepath.Join(d, "ca.key"),
		ServingCert:       filepath.Join(d, "apiserver.crt"),
		ServingKey:        filepath.Join(d, "apiserver.key"),
		AdminCert:         filepath.Join(d, "admin.crt"),
		AdminKey:          filepath.Join(d, "admin.key"),
		ServiceAccountKey: filepath.Join(d, "sa.key"),
		ServiceAccountPub: filepath.Join(d, "sa.pub"),
		TokenAuthFile:     filepath.Join(d, "tokens.csv"),
		AdminTokenFile:    filepath.Join(dataDir, "admin.token"),
	}
}

// generatePKI writes a fresh CA, certificates, keys and admin token under dataDir/pki.
// An existing set is replaced: each `up` is a new cluster identity, which is what tests want.
func generatePKI(dataDir string) (pki, error) {
	p := pkiPaths(dataDir)
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return p, fmt.Errorf("--data-dir: %w", err)
	}
	now := time.Now()

	caKey, err := newKey(p.CAKey)
	if err != nil {
		return p, err
	}
	caTemplate := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "gpufit-controlplane-ca"},
		NotBefore:             now.Add(-time.Hour), // tolerate small clock differences
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caCert, err := signCert(p.CACert, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return p, err
	}

	servingKey, err := newKey(p.ServingKey)
	if err != nil {
		return p, err
	}
	_, err = signCert(p.ServingCert, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(certValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		// 10.0.0.1: the kubernetes Service's ClusterIP in --service-cluster-ip-range 10.0.0.0/24.
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback, net.ParseIP("10.0.0.1")},
	}, caCert, &servingKey.PublicKey, caKey)
	if err != nil {
		return p, err
	}

	adminKey, err := newKey(p.AdminKey)
	if err != nil {
		return p, err
	}
	_, err = signCert(p.AdminCert, &x509.Certificate{
		// Organization becomes the user's group: system:masters is bound to cluster-admin.
		Subject:     pkix.Name{CommonName: "gpufit-admin", Organization: []string{"system:masters"}},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(certValidity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, caCert, &adminKey.PublicKey, caKey)
	if err != nil {
		return p, err
	}

	saKey, err := newKey(p.ServiceAccountKey)
	if err != nil {
		return p, err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return p, err
	}
	if err := writePEM(p.ServiceAccountPub, "PUBLIC KEY", saPub, 0o644); err != nil {
		return p, err
	}

	// Static bearer token for the same admin identity (token,user,uid,"group1,group2").
	tokenBytes := make([]byte, 24)
	if _, err := rand.Read(tokenBytes); err != nil {
		return p, err
	}
	p.AdminToken = hex.EncodeToString(tokenBytes)
	tokens := fmt.Sprintf("%s,gpufit-admin,gpufit-admin,\"system:masters\"\n", p.AdminToken)
	if err := os.WriteFile(p.TokenAuthFile, []byte(tokens), 0o600); err != nil {
		return p, err
	}
	if err := os.WriteFile(p.AdminTokenFile, []byte(p.AdminToken), 0o600); err != nil {
		return p, err
	}
	return p, nil
}

func newKey(path string) (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return key, writePEM(path, "EC PRIVATE KEY", der, 0o600)
}

// signCert fills in a random serial number, signs template with parent/signer and writes it.
func signCert(path string, template, parent *x509.Certificate, pub *ecdsa.PublicKey,
	signer *ecdsa.PrivateKey) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	template.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, template, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := writePEM(path, "CERTIFICATE", der, 0o644); err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func writePEM(path, blockType string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// writeKubeconfig writes an admin kubeconfig that names the files above (not inline data), so
// kubectl, client-go and kube-scheduler read the same credentials.
func writeKubeconfig(path, serverURL string, p pki) error {
	const format = `apiVersion: v1
kind: Config
clusters:
- name: gpufit
  cluster:
    server: %q
    certificate-authority: %q
users:
- name: gpufit-admin
  user:
    client-certificate: %q
    client-key: %q
contexts:
- name: gpufit
  context:
    cluster: gpufit
    user: gpufit-admin
current-context: gpufit
`
	data := fmt.Sprintf(format, serverURL, p.CACert, p.AdminCert, p.AdminKey)
	return writeFileAtomic(path, []byte(data), 0o600)
}

// writeFileAtomic writes via a temporary file and rename, so that a reader polling for the
// file never sees it half-written.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
