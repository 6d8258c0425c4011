#!/bin/bash
# make-pki.sh [OUTDIR]: regenerate the test PKI of ipsec-core::pki (default: this directory).
#
# Everything is made with the openssl CLI (`openssl ca`, so that notBefore/notAfter and the CRL
# times are explicit: the tests use fixed "now" times inside and outside these periods):
#
#   ca            RSA-3072 root "C=CH, O=ikv test PKI, CN=ikv Root CA", sha256, 2025-01-01..2045-01-01
#   intermediate  RSA-2048 CA under the root, pathlen:0, sha384
#   moon          RSA-2048 end entity under the root, sha256; SAN dNSName moon.ikv.test,
#                 iPAddress 198.18.0.1, rfc822Name moon@ikv.test (the capture's initiator)
#   sun           RSA-3072 end entity under the intermediate, sha512; SAN sun.ikv.test,
#                 198.18.0.2, sun@ikv.test (the capture's responder)
#   expired       under the root, 2020-01-01..2024-01-01
#   notyet        under the root, 2040-01-01..2045-01-01
#   revoked       under the root, serial 0x1003, listed in ca.crl.pem
#   keyenc        under the root, keyUsage keyEncipherment only (no digitalSignature)
#   issued-by-ee  signed with moon's key (moon is not a CA)
#   sub-ca, deep  a CA under the intermediate (whose pathlen:0 forbids it) and an end entity under it
#   ec-ca         ECDSA P-384 root "CN=ikv EC Root CA", ecdsa-with-SHA384
#   ecdsa         ECDSA P-256 end entity under ec-ca, ecdsa-with-SHA256; SAN ecdsa.ikv.test
#   ecdsa384      ECDSA P-384 end entity under ec-ca, ecdsa-with-SHA384; SAN ecdsa384.ikv.test
#   sha1          under the root, signed with sha1WithRSAEncryption
#   other-ca      an unrelated RSA-2048 root "CN=ikv Other CA"
#   other         end entity with moon's subject and SANs, but issued by other-ca
#   ca.crl.pem            the root's CRL (revokes 0x1003), 2025-01-01..2045-01-01
#   ca-expired.crl.pem    the root's CRL (revokes 0x1003), 2025-01-01..2026-01-01
#   intermediate.crl.pem  the intermediate's CRL, empty, 2025-01-01..2045-01-01
#   other-ca.crl.pem      other-ca's CRL revoking 0x1003 (it does not apply to the root's certs)
#
# Keys are PKCS#8 PEM (`*.key.pem`), except moon-pkcs1.key.pem (the same key as PKCS#1,
# "RSA PRIVATE KEY") and ecdsa-sec1.key.pem (the same key as SEC1, "EC PRIVATE KEY"), and
# moon.bundle.pem (certificate and key in one file, as the configuration's `certificate` has it).
# moon-kat.sig / ecdsa-kat.sig.der: OpenSSL's signatures of SHA-256("ikv pki kat") as a raw
# value (see the end of this script).
# These keys are for tests only: they are public.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:-$HERE}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
W=$(mktemp -d /tmp/ikv-pki.XXXXXX)
trap 'rc=$?; [ $rc = 0 ] || cat "$W/openssl.log" >&2; rm -rf "$W"' EXIT
cd "$W"

V_START=20250101000000Z
V_END=20450101000000Z

rsa() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:"$2" -out "$OUT/$1.key.pem" 2>/dev/null; }
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:"$2" -pkeyopt ec_param_enc:named_curve \
         -out "$OUT/$1.key.pem" 2>/dev/null; }

# One `openssl ca` database per issuer.
cat > ca.cnf <<'EOF'
[ ca ]
default_ca = this
[ this ]
dir = .
database = $dir/$ENV::ISSUER.index
serial = $dir/$ENV::ISSUER.serial
new_certs_dir = $dir/new
policy = any
unique_subject = no
copy_extensions = none
default_crl_days = 30
default_md = sha256
[ any ]
countryName = optional
organizationName = optional
commonName = supplied
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_root ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_intermediate ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_subca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ v3_ee ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $ENV::SAN
[ v3_keyenc ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, keyEncipherment
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = $ENV::SAN
[ crl_ext ]
authorityKeyIdentifier = keyid
EOF
mkdir -p new
export ISSUER=none SAN=DNS:unused

db() { : > "$1.index"; echo "unique_subject = no" > "$1.index.attr"; }

# sign NAME ISSUER(name of .pem/.key.pem in OUT, or "self") EXT SERIAL(hex) DIGEST SUBJECT [START END]
sign() {
  local name=$1 issuer=$2 ext=$3 serial=$4 md=$5 subj=$6 start=${7:-$V_START} end=${8:-$V_END}
  openssl req -new -key "$OUT/$name.key.pem" -subj "$subj" -out "$name.csr" -config ca.cnf
  if [ "$issuer" = self ]; then
    ISSUER=$name; db "$name"
    echo "$serial" > "$name.serial"
    ISSUER=$name openssl ca -batch -notext -config ca.cnf -selfsign -keyfile "$OUT/$name.key.pem" \
      -in "$name.csr" -out "$OUT/$name.pem" -extensions "$ext" -md "$md" \
      -startdate "$start" -enddate "$end" -subj "$subj" -utf8 2>>"$W/openssl.log"
  else
    [ -f "$issuer.index" ] || db "$issuer"
    echo "$serial" > "$issuer.serial"
    ISSUER=$issuer openssl ca -batch -notext -config ca.cnf -cert "$OUT/$issuer.pem" \
      -keyfile "$OUT/$issuer.key.pem" -in "$name.csr" -out "$OUT/$name.pem" -extensions "$ext" \
      -md "$md" -startdate "$start" -enddate "$end" -subj "$subj" -utf8 2>>"$W/openssl.log"
  fi
}

# crl ISSUER OUTNAME LAST NEXT [SERIAL-TO-REVOKE-CERT-NAME]
crl() {
  local issuer=$1 out=$2 last=$3 next=$4
  ISSUER=$issuer openssl ca -batch -config ca.cnf -gencrl -cert "$OUT/$issuer.pem" \
    -keyfile "$OUT/$issuer.key.pem" -crlexts crl_ext -md sha256 \
    -crl_lastupdate "$last" -crl_nextupdate "$next" -out "$OUT/$out" 2>>"$W/openssl.log"
}

O="/C=CH/O=ikv test PKI"

rsa ca 3072
sign ca self v3_root 01 sha256 "$O/CN=ikv Root CA"
rsa intermediate 2048
sign intermediate ca v3_intermediate 02 sha384 "$O/CN=ikv Intermediate CA"

rsa moon 2048
SAN="DNS:moon.ikv.test, IP:198.18.0.1, email:moon@ikv.test" \
  sign moon ca v3_ee 1001 sha256 "$O/CN=moon.ikv.test"
rsa expired 2048
SAN="DNS:expired.ikv.test" sign expired ca v3_ee 1002 sha256 "$O/CN=expired.ikv.test" \
  20200101000000Z 20240101000000Z
rsa revoked 2048
SAN="DNS:revoked.ikv.test" sign revoked ca v3_ee 1003 sha256 "$O/CN=revoked.ikv.test"
rsa notyet 2048
SAN="DNS:notyet.ikv.test" sign notyet ca v3_ee 1004 sha256 "$O/CN=notyet.ikv.test" \
  20400101000000Z 20450101000000Z
rsa keyenc 2048
SAN="DNS:keyenc.ikv.test" sign keyenc ca v3_keyenc 1005 sha256 "$O/CN=keyenc.ikv.test"

rsa sun 3072
SAN="DNS:sun.ikv.test, IP:198.18.0.2, email:sun@ikv.test" \
  sign sun intermediate v3_ee 2001 sha512 "$O/CN=sun.ikv.test"
rsa sub-ca 2048
sign sub-ca intermediate v3_subca 2002 sha256 "$O/CN=ikv Sub CA"
rsa deep 2048
SAN="DNS:deep.ikv.test" sign deep sub-ca v3_ee 3001 sha256 "$O/CN=deep.ikv.test"

# moon is an end entity: what it "issues" must not chain
rsa issued-by-ee 2048
SAN="DNS:evil.ikv.test" sign issued-by-ee moon v3_ee 4001 sha256 "$O/CN=evil.ikv.test"

ec ec-ca P-384
sign ec-ca self v3_root 01 sha384 "$O/CN=ikv EC Root CA"
ec ecdsa P-256
SAN="DNS:ecdsa.ikv.test" sign ecdsa ec-ca v3_ee 5001 sha256 "$O/CN=ecdsa.ikv.test"
ec ecdsa384 P-384
SAN="DNS:ecdsa384.ikv.test" sign ecdsa384 ec-ca v3_ee 5002 sha384 "$O/CN=ecdsa384.ikv.test"

rsa sha1 2048
SAN="DNS:sha1.ikv.test" sign sha1 ca v3_ee 1006 sha1 "$O/CN=sha1.ikv.test"

rsa other-ca 2048
sign other-ca self v3_root 01 sha256 "$O/CN=ikv Other CA"
rsa other 2048
SAN="DNS:moon.ikv.test, IP:198.18.0.1, email:moon@ikv.test" \
  sign other other-ca v3_ee 1003 sha256 "$O/CN=moon.ikv.test"

# CRLs: revoke 0x1003 in the root's database; other-ca revokes its own 0x1003 ("other")
ISSUER=ca openssl ca -batch -config ca.cnf -cert "$OUT/ca.pem" -keyfile "$OUT/ca.key.pem" \
  -revoke "$OUT/revoked.pem" -crl_reason keyCompromise 2>>"$W/openssl.log"
crl ca ca.crl.pem 20250101000000Z 20450101000000Z
crl ca ca-expired.crl.pem 20250101000000Z 20260101000000Z
crl intermediate intermediate.crl.pem 20250101000000Z 20450101000000Z
ISSUER=other-ca openssl ca -batch -config ca.cnf -cert "$OUT/other-ca.pem" \
  -keyfile "$OUT/other-ca.key.pem" -revoke "$OUT/other.pem" 2>>"$W/openssl.log"
crl other-ca other-ca.crl.pem 20250101000000Z 20450101000000Z

# other encodings of the same keys, and a certificate + key bundle
openssl pkey -in "$OUT/moon.key.pem" -traditional -out "$OUT/moon-pkcs1.key.pem"
openssl ec -in "$OUT/ecdsa.key.pem" -out "$OUT/ecdsa-sec1.key.pem" 2>>"$W/openssl.log"
cat "$OUT/moon.pem" "$OUT/moon.key.pem" > "$OUT/moon.bundle.pem"
# DER copies, for the DER paths of the parser
openssl x509 -in "$OUT/moon.pem" -outform DER -out "$OUT/moon.der"
openssl crl -in "$OUT/ca.crl.pem" -outform DER -out "$OUT/ca.crl.der"
openssl pkey -in "$OUT/moon.key.pem" -outform DER -out "$OUT/moon.key.der"

# Known answers for the IKEv1 signature encodings, made by OpenSSL over a raw 32-byte value
# (pkeyutl without -digest signs its input as it is): RSA PKCS#1 v1.5 *without* DigestInfo (what
# RFC 2409 5.1 needs, strongSwan's SIGN_RSA_EMSA_PKCS1_NULL) and ECDSA over the value as the
# digest (SIGN_ECDSA_WITH_NULL; DER-encoded here, the SIG payload carries r | s).
printf 'ikv pki kat' | openssl dgst -sha256 -binary > kat.hash
openssl pkeyutl -sign -inkey "$OUT/moon.key.pem" -in kat.hash -out "$OUT/moon-kat.sig"
openssl pkeyutl -sign -inkey "$OUT/ecdsa.key.pem" -in kat.hash -out "$OUT/ecdsa-kat.sig.der"

echo "test PKI written to $OUT"
