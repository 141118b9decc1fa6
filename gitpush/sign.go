package gitpush

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"golang.org/x/crypto/ssh"
)

// Signer signs the canonical encoding of a commit (without its signature
// header) and returns the armored signature Git stores in the gpgsig header.
type Signer interface {
	Sign(payload []byte) (string, error)
}

// Signing key kinds, as in spec.git.commit.signingKey.type.
const (
	SigningGPG = "gpg"
	SigningSSH = "ssh"
)

// SignerFromSecret reads a signing key from Secret data: for "gpg" (or ""),
// an armored OpenPGP private key under git.asc and its passphrase under
// passphrase; for "ssh", a private key under identity and its passphrase
// under password.
func SignerFromSecret(kind string, data map[string][]byte) (Signer, error) {
	switch kind {
	case "", SigningGPG:
		if len(data[KeyGPGKey]) == 0 {
			return nil, fmt.Errorf("reading signing secret: %s is required", KeyGPGKey)
		}
		return NewOpenPGPSigner(data[KeyGPGKey], data[KeyGPGPassphrase])
	case SigningSSH:
		if len(data[KeyIdentity]) == 0 {
			return nil, fmt.Errorf("reading signing secret: %s is required", KeyIdentity)
		}
		return NewSSHSigner(data[KeyIdentity], data[KeyPassword])
	}
	return nil, fmt.Errorf("unknown signing key type %q (want gpg or ssh)", kind)
}

type pgpSigner struct{ entity *openpgp.Entity }

// NewOpenPGPSigner reads an armored OpenPGP private key, decrypting it (and
// its subkeys) with passphrase when they are encrypted.
func NewOpenPGPSigner(armored, passphrase []byte) (Signer, error) {
	list, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, errors.New("reading OpenPGP signing key: not an armored private key")
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("reading OpenPGP signing key: want one key, found %d", len(list))
	}
	ent := list[0]
	keys := []*packet.PrivateKey{ent.PrivateKey}
	for _, sk := range ent.Subkeys {
		keys = append(keys, sk.PrivateKey)
	}
	for _, k := range keys {
		if k == nil || !k.Encrypted {
			continue
		}
		if len(passphrase) == 0 {
			return nil, errors.New("reading OpenPGP signing key: key is encrypted and no passphrase was given")
		}
		if err := k.Decrypt(passphrase); err != nil {
			return nil, errors.New("decrypting OpenPGP signing key: wrong passphrase")
		}
	}
	if ent.PrivateKey == nil {
		return nil, errors.New("reading OpenPGP signing key: no private key")
	}
	return &pgpSigner{entity: ent}, nil
}

func (s *pgpSigner) Sign(payload []byte) (string, error) {
	var b bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&b, s.entity, bytes.NewReader(payload), nil); err != nil {
		return "", err
	}
	return b.String(), nil
}

type sshSigner struct{ signer ssh.Signer }

// NewSSHSigner reads an SSH private key (decrypted with passphrase when
// encrypted) for SSH commit signatures (gpg.format=ssh).
func NewSSHSigner(key, passphrase []byte) (Signer, error) {
	s, err := parseSSHKey(key, string(passphrase))
	if err != nil {
		return nil, err
	}
	return &sshSigner{signer: s}, nil
}

const sshsigNamespace = "git"

// Sign produces an SSHSIG signature (OpenSSH's PROTOCOL.sshsig) over the
// payload in the "git" namespace with SHA-512, as ssh-keygen -Y sign does.
func (s *sshSigner) Sign(payload []byte) (string, error) {
	sum := sha512.Sum512(payload)
	toSign := bytes.NewBufferString("SSHSIG")
	for _, f := range [][]byte{[]byte(sshsigNamespace), nil, []byte("sha512"), sum[:]} {
		writeString(toSign, f)
	}
	var sig *ssh.Signature
	var err error
	if as, ok := s.signer.(ssh.AlgorithmSigner); ok && s.signer.PublicKey().Type() == ssh.KeyAlgoRSA {
		sig, err = as.SignWithAlgorithm(rand.Reader, toSign.Bytes(), ssh.KeyAlgoRSASHA512)
	} else {
		sig, err = s.signer.Sign(rand.Reader, toSign.Bytes())
	}
	if err != nil {
		return "", err
	}
	blob := bytes.NewBufferString("SSHSIG")
	_ = binary.Write(blob, binary.BigEndian, uint32(1))
	writeString(blob, s.signer.PublicKey().Marshal())
	writeString(blob, []byte(sshsigNamespace))
	writeString(blob, nil)
	writeString(blob, []byte("sha512"))
	writeString(blob, ssh.Marshal(sig))
	enc := base64.StdEncoding.EncodeToString(blob.Bytes())
	var out strings.Builder
	out.WriteString("-----BEGIN SSH SIGNATURE-----\n")
	for len(enc) > 70 {
		out.WriteString(enc[:70] + "\n")
		enc = enc[70:]
	}
	out.WriteString(enc + "\n-----END SSH SIGNATURE-----\n")
	return out.String(), nil
}

func writeString(b *bytes.Buffer, s []byte) {
	_ = binary.Write(b, binary.BigEndian, uint32(len(s)))
	b.Write(s)
}

func readFull(r io.Reader, b []byte) (int, error) { return io.ReadFull(r, b) }
