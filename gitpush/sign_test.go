package gitpush

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/dockhand-dev/dockhand/fixtures/gitserver"
	"golang.org/x/crypto/ssh"
)

// verifyCommit runs git verify-commit on the server's repository.
func verifyCommit(t *testing.T, gitDir, commit string, env []string, config ...string) string {
	t.Helper()
	args := []string{"-C", gitDir}
	for _, c := range config {
		args = append(args, "-c", c)
	}
	cmd := exec.Command("git", append(args, "verify-commit", "-v", commit)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git verify-commit %s: %v\n%s", commit, err, out)
	}
	return string(out)
}

func signedRun(t *testing.T, srv *gitserver.Server, branch string, s Signer) string {
	t.Helper()
	opts := testAuthor
	opts.Signer = s
	res, err := newClient(t).Run(t.Context(), Request{
		Remote: httpRemote(srv, "app"), Commit: opts, Push: PushOptions{Branch: branch},
		Change: setFile("app.yaml", branch+"\n", "signed "+branch),
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res.Commit
}

func TestOpenPGPSignatureVerifies(t *testing.T) {
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Fatal("gpg is required (fixtures/setup.sh installs gnupg)")
	}
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
	ent, err := openpgp.NewEntity("dockhand", "", "bot@dockhand.dev", nil)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	w, _ := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err := ent.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := ent.EncryptPrivateKeys([]byte("gpg-pass-phrase"), nil); err != nil {
		t.Fatal(err)
	}
	var priv bytes.Buffer
	w, _ = armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err := ent.SerializePrivateWithoutSigning(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()

	if _, err := SignerFromSecret("gpg", map[string][]byte{KeyGPGKey: priv.Bytes(), KeyGPGPassphrase: []byte("wrong-gpg-pass")}); err == nil || strings.Contains(err.Error(), "wrong-gpg-pass") {
		t.Errorf("wrong passphrase: error = %v, want one without the passphrase", err)
	}
	s, err := SignerFromSecret("gpg", map[string][]byte{KeyGPGKey: priv.Bytes(), KeyGPGPassphrase: []byte("gpg-pass-phrase")})
	if err != nil {
		t.Fatal(err)
	}
	commit := signedRun(t, srv, "gpg", s)

	home := t.TempDir()
	imp := exec.Command("gpg", "--homedir", home, "--batch", "--import")
	imp.Stdin = &pub
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("gpg --import: %v\n%s", err, out)
	}
	out := verifyCommit(t, srv.Path("app"), commit, []string{"GNUPGHOME=" + home})
	if !strings.Contains(out, "Good signature") {
		t.Errorf("verify-commit output lacks a good signature:\n%s", out)
	}
}

func TestSSHSignatureVerifies(t *testing.T) {
	srv := gitserver.Start(t)
	srv.CreateRepo(t, "app", map[string]string{"app.yaml": "v1\n"})
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edPEM, _ := ssh.MarshalPrivateKeyWithPassphrase(edKey, "", []byte("ssh-sign-pass"))
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsaPEM, _ := ssh.MarshalPrivateKey(rsaKey, "")
	for _, tc := range []struct {
		name string
		data map[string][]byte
		pub  any
	}{
		{"ed25519 with passphrase", map[string][]byte{KeyIdentity: pem.EncodeToMemory(edPEM), KeyPassword: []byte("ssh-sign-pass")}, edKey.Public()},
		{"rsa", map[string][]byte{KeyIdentity: pem.EncodeToMemory(rsaPEM)}, &rsaKey.PublicKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := SignerFromSecret("ssh", tc.data)
			if err != nil {
				t.Fatal(err)
			}
			commit := signedRun(t, srv, "ssh-"+strings.Fields(tc.name)[0], s)
			pub, _ := ssh.NewPublicKey(tc.pub)
			allowed := filepath.Join(t.TempDir(), "allowed_signers")
			line := `bot@dockhand.dev namespaces="git" ` + string(ssh.MarshalAuthorizedKey(pub))
			if err := os.WriteFile(allowed, []byte(line), 0o600); err != nil {
				t.Fatal(err)
			}
			out := verifyCommit(t, srv.Path("app"), commit, nil, "gpg.format=ssh", "gpg.ssh.allowedSignersFile="+allowed)
			if !strings.Contains(out, `Good "git" signature for bot@dockhand.dev`) {
				t.Errorf("verify-commit output lacks a good signature:\n%s", out)
			}
		})
	}
	if _, err := SignerFromSecret("x509", nil); err == nil {
		t.Error("SignerFromSecret(x509): no error")
	}
}
