#!/usr/bin/env python3
"""Check and describe an IKEv1 known-answer capture (capture.pcap + charon logs).

  ikvcap.py check  DIR                  verify a capture directory, print its packet list
  ikvcap.py readme NAME DIR PROFILE     write DIR/README.md (settings from the profile .env)

The check is independent of the project's code: tshark decrypts every encrypted ISAKMP message
with the encryption key Ka taken from the initiator's log, and checks the ICV of, and decrypts,
every ESP packet with the ESP keys taken from the same log. It also checks that both logs hex-dump
the secrets a known-answer test needs.
"""
import glob
import os
import re
import subprocess
import sys

# ------------------------------------------------------------------------------------------------
# charon log hex dumps:  "<prefix> LABEL => N bytes @ 0x..." then "<prefix>    0: 8D 0A ...  ascii"
LINE = re.compile(r'^(?P<pre>.*?)(?P<thr>\d+)\[(?P<grp>[A-Z]+)\] (?:<[^>]*> )?(?P<text>.*)$')
HEAD = re.compile(r'^(?P<label>.*?)\s*=> (?P<n>\d+) bytes @ (?:0x[0-9a-fA-F]+|\(nil\))\s*$')
ROW = re.compile(r'^\s*(?P<off>\d+): (?P<rest>.*)$')


def dumps(text):
    """[(label, bytes)] in order of appearance; continuation rows matched per thread."""
    out = []
    pending = {}  # thread -> [label, n, bytearray]
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        thr, body = m.group('thr'), m.group('text')
        p = pending.get(thr)
        if p is not None:
            r = ROW.match(body)
            if r and int(r.group('off')) == len(p[2]):
                want = min(16, p[1] - len(p[2]))
                toks = r.group('rest').split(' ')[:want]
                if len(toks) == want and all(re.fullmatch(r'[0-9A-F]{2}', t) for t in toks):
                    p[2].extend(bytes.fromhex(''.join(toks)))
                    if len(p[2]) == p[1]:
                        out.append((p[0], bytes(p[2])))
                        del pending[thr]
                    continue
            # an unrelated line from the same thread: the dump was cut short, drop it
            del pending[thr]
        h = HEAD.match(body)
        if h:
            label, n = h.group('label').strip(), int(h.group('n'))
            if n == 0:
                out.append((label, b''))
            else:
                pending[thr] = [label, n, bytearray()]
    return out


def find(text, label):
    return [v for (l, v) in dumps(text) if l == label]


# ------------------------------------------------------------------------------------------------
ENC_WS = {
    'AES_CBC': 'AES-CBC [RFC3602]',
    '3DES': 'TripleDES-CBC [RFC2451]',
    '3DES_CBC': 'TripleDES-CBC [RFC2451]',
    'AES_GCM_16': 'AES-GCM with 16 octet ICV [RFC4106]',
    'AES_GCM_12': 'AES-GCM with 12 octet ICV [RFC4106]',
    'AES_GCM_8': 'AES-GCM with 8 octet ICV [RFC4106]',
}
INTEG_WS = {
    'HMAC_SHA1_96': 'HMAC-SHA-1-96 [RFC2404]',
    'HMAC_MD5_96': 'HMAC-MD5-96 [RFC2403]',
    'HMAC_SHA2_256_128': 'HMAC-SHA-256-128 [RFC4868]',
    'HMAC_SHA2_384_192': 'HMAC-SHA-384-192 [RFC4868]',
    'HMAC_SHA2_512_256': 'HMAC-SHA-512-256 [RFC4868]',
}
PAYLOAD = {1: 'SA', 4: 'KE', 5: 'ID', 6: 'CERT', 7: 'CR', 8: 'HASH', 9: 'SIG', 10: 'NONCE',
           11: 'N', 12: 'DELETE', 13: 'VID', 14: 'ATTR', 15: 'SAK', 20: 'NAT-D', 21: 'NAT-OA'}
EXCH = {2: 'Main Mode', 4: 'Aggressive Mode', 5: 'Informational', 6: 'Transaction', 32: 'Quick Mode'}


def files(d):
    def one(pats):
        for p in pats:
            g = sorted(glob.glob(os.path.join(d, p)))
            if g:
                return g[0]
        raise SystemExit(f'{d}: no file matching {pats}')
    return (one(['capture.pcap', '*.pcap']), one(['initiator.log', '*initiator*.log']),
            one(['responder.log', '*responder*.log']))


def esp_sas(log):
    """[(spi, src, dst, direction, enc_alg, integ_alg)] from 'adding inbound/outbound ESP SA'."""
    sas = []
    lines = log.splitlines()
    for i, line in enumerate(lines):
        m = re.search(r'adding (inbound|outbound) ESP SA$', line)
        if not m:
            continue
        s = re.search(r'SPI 0x([0-9a-f]+), src (\S+) dst (\S+)', lines[i + 1])
        enc = integ = None
        for l2 in lines[i + 2:i + 8]:
            e = re.search(r'using encryption algorithm (\S+) with key size', l2)
            if e:
                enc = e.group(1)
            g = re.search(r'using integrity algorithm (\S+) with key size', l2)
            if g and g.group(1) != 'UNDEFINED':
                integ = g.group(1)
        sas.append((s.group(1), s.group(2), s.group(3), m.group(1), enc, integ))
    return sas


def tshark_rows(pcap, icookie, ka, esp):
    cmd = ['tshark', '-r', pcap, '-n',
           '-o', f'uat:ikev1_decryption_table:{icookie},{ka.hex()}',
           '-o', 'esp.enable_encryption_decode:TRUE', '-o', 'esp.enable_authentication_check:TRUE']
    for (spi, src, dst, enc, ekey, integ, ikey) in esp:
        cmd += ['-o', f'uat:esp_sa:"IPv4","{src}","{dst}","0x{spi}","{enc}","0x{ekey.hex()}",'
                      f'"{integ}","0x{ikey.hex() if ikey else ""}"']
    fields = ['frame.number', 'ip.src', 'udp.srcport', 'ip.dst', 'udp.dstport', 'frame.len',
              'udp.length', 'isakmp.ispi', 'isakmp.rspi', 'isakmp.exchangetype', 'isakmp.messageid',
              'isakmp.flags', 'isakmp.typepayload', 'isakmp.id.type', 'isakmp.delete.protoid',
              'isakmp.delete.spi', 'esp.spi', 'esp.sequence', 'esp.icv_good', 'icmp.type',
              'isakmp.ike.nat_keepalive', 'ip.proto']
    cmd += ['-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,', '-E', 'separator=\t']
    for f in fields:
        cmd += ['-e', f]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rows = []
    for line in res.stdout.splitlines():
        vals = line.split('\t')
        rows.append(dict(zip(fields, vals + [''] * (len(fields) - len(vals)))))
    return rows


def sa_attrs(pcap, icookie, ka):
    """{frame: [transform id / attribute lines]} from tshark -V (encrypted messages decrypted)"""
    res = subprocess.run(['tshark', '-r', pcap, '-n', '-o', f'uat:ikev1_decryption_table:{icookie},{ka.hex()}', '-V'],
                         capture_output=True, text=True, check=True).stdout
    out, frame = {}, None
    for line in res.splitlines():
        m = re.match(r'^Frame (\d+):', line)
        if m:
            frame = int(m.group(1))
            continue
        t = line.strip()
        if re.match(r'^(Transform ID|(IKE|IPsec) Attribute \()', t):
            out.setdefault(frame, []).append(t)
    return out


def analyse(d):
    pcap, ilog_f, rlog_f = files(d)
    ilog = open(ilog_f, errors='replace').read()
    rlog = open(rlog_f, errors='replace').read()
    errors = []
    idumps = dumps(ilog)
    rdumps = dumps(rlog)

    def first(ds, label):
        for l, v in ds:
            if l == label:
                return v
        return None

    ka = first(idumps, 'encryption key Ka')
    if ka is None:
        raise SystemExit(f'{ilog_f}: no "encryption key Ka" dump')
    # ESP SAs from the initiator's view; "initiator" keys belong to the initiator's outbound SA
    keys = {}
    for who in ('initiator', 'responder'):
        keys[who] = (first(idumps, f'encryption {who} key'), first(idumps, f'integrity {who} key'))
    esp = []
    sas = esp_sas(ilog)
    for (spi, src, dst, direction, enc, integ) in sas:
        who = 'initiator' if direction == 'outbound' else 'responder'
        ekey, ikey = keys[who]
        esp.append((spi, src, dst, ENC_WS.get(enc, enc), ekey,
                    INTEG_WS.get(integ, 'NULL') if integ else 'NULL', ikey))
    # initiator cookie: first ISAKMP packet
    first_rows = subprocess.run(['tshark', '-r', pcap, '-n', '-Y', 'isakmp', '-c', '1', '-T', 'fields',
                                 '-e', 'isakmp.ispi'], capture_output=True, text=True, check=True)
    icookie = first_rows.stdout.split()[0]
    rows = tshark_rows(pcap, icookie, ka, esp)
    return dict(pcap=pcap, ilog=ilog_f, rlog=rlog_f, idumps=idumps, rdumps=rdumps, ka=ka,
                sas=sas, esp=esp, icookie=icookie, rows=rows, errors=errors)


def describe(rows, sas):
    """numbered packet list (markdown) + counters"""
    lines = []
    n = dict(qm_ke=False, p1=0, qm=0, info=0, esp=0, other=0, esp_ok=0, enc_ok=0, enc=0, dele=[])
    msgno = {}
    init_addr = rows[0]['ip.src'].split(',')[0] if rows else ''
    spi_dir = {s[0]: s[3] for s in sas}
    for r in rows:
        src = r['ip.src'].split(',')[0]
        dst = r['ip.dst'].split(',')[0]
        arrow = 'I→R' if src == init_addr else 'R→I'
        where = f"{src}:{r['udp.srcport']} → {dst}:{r['udp.dstport']}"
        ln = r['frame.len']
        if r['isakmp.exchangetype']:
            et = int(r['isakmp.exchangetype'])
            name = EXCH.get(et, f'exchange {et}')
            key = (et, r['isakmp.messageid'])
            msgno[key] = msgno.get(key, 0) + 1
            pls = [PAYLOAD.get(int(x), x) for x in r['isakmp.typepayload'].split(',') if x and int(x) not in (2, 3)]
            enc = int(r['isakmp.flags'] or '0', 16) & 1
            marker = ', non-ESP marker' if r['udp.dstport'] == '4500' else ''
            what = f"{name} message {msgno[key]}" if et in (2, 4, 32) else name
            if et in (2, 4):
                n['p1'] += 1
            elif et == 32:
                n['qm'] += 1
                n['qm_ke'] |= 'KE' in pls
            elif et == 5:
                n['info'] += 1
            else:
                n['other'] += 1
            extra = ''
            if r['isakmp.delete.protoid']:
                proto = {'1': 'ISAKMP', '3': 'ESP', '2': 'AH'}.get(r['isakmp.delete.protoid'], r['isakmp.delete.protoid'])
                extra = f" — Delete {proto} SPI {r['isakmp.delete.spi']}"
                n['dele'].append(proto)
            if enc:
                n['enc'] += 1
                if pls and pls[0] in ('HASH', 'ID'):
                    n['enc_ok'] += 1
            enc_s = 'encrypted: ' if enc else ''
            lines.append(f"{r['frame.number']}. {arrow} {where}{marker}, {ln} bytes: {what} "
                         f"(MID {r['isakmp.messageid']}) [{enc_s}{' '.join(pls)}]{extra}")
        elif r['esp.spi']:
            n['esp'] += 1
            good = r['esp.icv_good'] == '1'
            icmp = r['icmp.type']
            ok = good and icmp in ('0', '8')
            if ok:
                n['esp_ok'] += 1
            inner = {'8': 'ICMP echo request 198.51.100.1 → 203.0.113.1',
                     '0': 'ICMP echo reply 203.0.113.1 → 198.51.100.1'}.get(icmp, 'not decrypted')
            udp = ' in UDP' if r['udp.srcport'] else ' (raw IP proto 50)'
            lines.append(f"{r['frame.number']}. {arrow} {where}, {ln} bytes: ESP{udp} SPI {r['esp.spi']} "
                         f"seq {r['esp.sequence']} — {inner}" + (', ICV verified' if good else ', ICV NOT verified'))
        elif r['isakmp.ike.nat_keepalive']:
            n['other'] += 1
            lines.append(f"{r['frame.number']}. {arrow} {where}, {ln} bytes: NAT-T keepalive (0xFF)")
        else:
            n['other'] += 1
            lines.append(f"{r['frame.number']}. {arrow} {where}, {ln} bytes: other")
    return lines, n


REQUIRED = ['shared Diffie Hellman secret', 'SKEYID', 'SKEYID_d', 'SKEYID_a', 'SKEYID_e',
            'encryption key Ka', 'initial IV', 'encryption initiator key', 'encryption responder key']


def check(d, quiet=False):
    a = analyse(d)
    errs = []
    lines, n = describe(a['rows'], a['sas'])
    integ = any(s[5] for s in a['sas'])
    req = REQUIRED + (['integrity initiator key', 'integrity responder key'] if integ else [])
    req += ['DH secret'] if n['qm_ke'] else []  # PFS: the quick-mode DH secret
    for who, ds in (('initiator', a['idumps']), ('responder', a['rdumps'])):
        labels = {l for l, _ in ds}
        for r in req:
            if r not in labels:
                errs.append(f'{who} log has no "{r}" dump')
    # both logs must agree on the shared secrets
    for label in ('shared Diffie Hellman secret', 'SKEYID_d', 'encryption key Ka', 'encryption initiator key',
                  'integrity initiator key', 'DH secret'):
        iv = [v for l, v in a['idumps'] if l == label]
        rv = [v for l, v in a['rdumps'] if l == label]
        if iv[:1] != rv[:1]:
            errs.append(f'"{label}" differs between the logs')
    if n['p1'] not in (3, 6):
        errs.append(f"{n['p1']} phase-1 messages (want 6 main mode or 3 aggressive mode)")
    if n['qm'] != 3:
        errs.append(f"{n['qm']} quick mode messages (want 3)")
    if n['enc'] != n['enc_ok']:
        errs.append(f"only {n['enc_ok']} of {n['enc']} encrypted ISAKMP messages decrypted with the logged Ka")
    if n['esp'] < 2 or n['esp'] != n['esp_ok']:
        errs.append(f"{n['esp_ok']} of {n['esp']} ESP packets verified/decrypted with the logged keys")
    if sorted(n['dele']) != ['ESP', 'ISAKMP']:
        errs.append(f"deletes seen: {n['dele']} (want one ESP and one ISAKMP)")
    if not quiet:
        print('\n'.join(lines))
        print(f"phase1={n['p1']} quick={n['qm']} informational={n['info']} esp={n['esp']} other={n['other']}")
        for e in errs:
            print('CHECK FAILED:', e)
        if not errs:
            print('CHECK OK: IKE messages decrypted with the logged Ka, ESP ICVs verified with the logged keys')
    return a, lines, n, errs


# ------------------------------------------------------------------------------------------------
def load_profile(path):
    out = subprocess.run(['bash', '-c', f'set -a; . "{path}"; env -0'], capture_output=True, check=True).stdout
    env = {}
    for kv in out.split(b'\0'):
        if b'=' in kv:
            k, v = kv.split(b'=', 1)
            env[k.decode()] = v.decode()
    return env


def dump_table(ds):
    rows, seen = [], {}
    for l, v in ds:
        if not l or l.startswith(('parsing', 'generated data', 'natd_chunk', 'natd_hash', 'plain',
                                  'encrypted', 'padding', 'IV', 'HASH received', 'HASH expected',
                                  'received', 'precalculated', 'received packet', 'sending packet')):
            continue
        seen.setdefault(l, []).append(len(v))
    for l, lens in seen.items():
        rows.append(f"| {l} | {', '.join(str(x) for x in lens)} |")
    return rows


def ka_expansion(ds):
    """README note on how Ka relates to SKEYID_e (RFC 2409 appendix B), verified here."""
    import hashlib
    import hmac
    get = lambda label: next((v for l, v in ds if l == label), None)
    e, ka = get('SKEYID_e'), get('encryption key Ka')
    h = {16: hashlib.md5, 20: hashlib.sha1, 32: hashlib.sha256, 48: hashlib.sha384, 64: hashlib.sha512}.get(len(e))
    if h is None:
        return None
    if len(ka) <= len(e):
        ok = ka == e[:len(ka)]
        return (f"- Ka ({len(ka)} bytes) is the first {len(ka)} bytes of SKEYID_e ({len(e)} bytes)"
                + (" (checked)." if ok else " — NOT confirmed by the check."))
    k, blocks = b'\x00', b''
    while len(blocks) < len(ka):
        k = hmac.new(e, k, h).digest()
        blocks += k
    ok = blocks[:len(ka)] == ka
    return (f"- Ka ({len(ka)} bytes) is longer than SKEYID_e ({len(e)} bytes), so it was expanded per RFC 2409 appendix B: "
            "K1 = prf(SKEYID_e, 0x00), K2 = prf(SKEYID_e, K1), ..., Ka = first bytes of K1 | K2 | ..."
            + (" (checked against the logged values)." if ok else " — NOT confirmed by the check."))


def readme(name, d, profile):
    p = load_profile(profile)
    a, lines, n, errs = check(d, quiet=True)
    if errs:
        for e in errs:
            print('CHECK FAILED:', e, file=sys.stderr)
        raise SystemExit(1)
    ver = subprocess.run(['dpkg-query', '-W', '-f', '${Version}', 'strongswan-charon'],
                         capture_output=True, text=True).stdout.strip()
    ilog = open(a['ilog'], errors='replace').read()
    m = re.search(r'Starting IKE charon daemon \(strongSwan ([^,]+), ([^)]*)\)', ilog)
    sw = m.group(1) if m else '?'
    kern = m.group(2) if m else '?'
    am = p['AGGRESSIVE'] == 'yes'
    pfs = p['ESP_PROPOSAL'].count('-') >= 2 or re.search(r'(modp|ecp|curve)\d+$', p['ESP_PROPOSAL'])
    sas = {s[3]: s for s in a['sas']}
    out_spi = sas['outbound'][0] if 'outbound' in sas else '?'
    in_spi = sas['inbound'][0] if 'inbound' in sas else '?'
    rspi = next((r['isakmp.rspi'] for r in a['rows'] if r['isakmp.rspi'] and r['isakmp.rspi'] != '0000000000000000'), '?')
    qm_dh = [v for l, v in a['idumps'] if l == 'DH secret']

    t = []
    t.append(f"# {name}: a real IKEv1 exchange between two strongSwan {sw} charons, every secret logged\n")
    t.append(f"{p['DESC']}.\n")
    t.append("Made with `tests/lab/make-capture.sh " + name + "` (settings in `tests/lab/profiles/" + name +
             ".env`); run it again to get a new capture with the same settings (nonces, DH values, cookies, "
             "SPIs and therefore all keys differ per run; the logs carry them).\n")
    t.append("## Files\n")
    t.append("- `capture.pcap`: tcpdump on the initiator's veth (filter `udp port 500 or udp port 4500 or ip proto 50`), "
             "link type Ethernet (DLT_EN10MB), microsecond timestamps.")
    t.append("- `initiator.log`, `responder.log`: charon filelog, `default = 2, ike = 4, chd = 4, enc = 3, net = 2, knl = 2, cfg = 2, lib = 1`, "
             "`ike_name = yes`, time format `%H:%M:%S` + ms. Hex dumps are `LABEL => N bytes @ 0xADDR` followed by rows "
             "`  OFF: XX XX ... (16 bytes per row, uppercase, space separated)  ascii`.")
    t.append("- `initiator.swanctl.conf`, `responder.swanctl.conf`: the exact swanctl configurations loaded.")
    t.append("- `list-sas.txt`: `swanctl --list-sas` on the initiator right after the CHILD SA came up; `ping.txt`: the ping output.\n")
    t.append("## Settings\n")
    t.append("| | |\n|---|---|")
    t.append(f"| strongSwan | {sw} (Debian package strongswan-charon {ver}), charon with kernel-libipsec, host kernel {kern} |")
    t.append("| initiator | 198.18.0.1 (namespace ikv-i-*, veth ikvi), ports 500 then 4500 |")
    t.append("| responder | 198.18.0.2 (namespace ikv-r-*, veth ikvr), ports 500 then 4500 |")
    t.append(f"| initiator ID | {p['INIT_ID_TEXT']} (swanctl `id = {p['INIT_ID']}`) |")
    t.append(f"| responder ID | {p['RESP_ID_TEXT']} (swanctl `id = {p['RESP_ID']}`) |")
    t.append(f"| authentication | pre-shared key, PSK `{p['PSK']}` (ASCII, {len(p['PSK'])} bytes, no trailing newline) |")
    t.append(f"| exchange mode | {'aggressive mode (3 messages)' if am else 'main mode / identity protection (6 messages)'} |")
    t.append(f"| IKE proposal | `{p['IKE_PROPOSAL']}`: {p['IKE_TEXT']}; one proposal, one transform, life duration strongSwan default |")
    t.append(f"| ESP proposal | `{p['ESP_PROPOSAL']}`: {p['ESP_TEXT']} |")
    t.append(f"| PFS | {p['PFS_TEXT']} |")
    t.append(f"| mode | {p['MODE']} (UDP-encapsulated: ENCAP mode UDP-Encapsulated-Tunnel, RFC 3947 value 3) |")
    t.append("| traffic selectors | initiator 198.51.100.1/32 (ID_IPV4_ADDR in QM) ↔ responder 203.0.113.1/32 (ID_IPV4_ADDR), all protocols/ports |")
    t.append("| NAT-T | no NAT on the path, but kernel-libipsec makes charon fake its NAT-D hash (\"faking NAT situation to enforce UDP encapsulation\"), "
             f"so the exchange floats to UDP 4500 after {'aggressive mode message 2' if am else 'main mode message 4'} and ESP is UDP-encapsulated (RFC 3948) |")
    t.append("| other | both strongswan.conf set `cisco_unity = yes` (Cisco Unity VID) and `i_dont_care_about_security_and_use_aggressive_mode_psk = yes` "
             "(needed by an aggressive-mode PSK responder); no DPD configured, no XAuth, no mode-config, no IPComp"
             + ("" if am else "; main mode message 5 carries an INITIAL_CONTACT notify (type 24578)") + " |")
    t.append("")
    t.append("This run: initiator cookie (SPI_i) `" + a['icookie'] + "`, responder cookie `" + rspi + "`; "
             f"ESP SPI of the initiator→responder SA `0x{out_spi}`, of the responder→initiator SA `0x{in_spi}`.\n")
    attrs = sa_attrs(a['pcap'], a['icookie'], a['ka'])
    qm1 = next((int(r['frame.number']) for r in a['rows'] if r['isakmp.exchangetype'] == '32'), None)
    t.append("SA payloads as sent (from the capture; the responder's reply carries the same single transform):\n")
    t.append("- phase 1, message 1: " + '; '.join(attrs.get(1, [])))
    if qm1:
        t.append(f"- quick mode, message 1 (frame {qm1}, decrypted): " + '; '.join(attrs.get(qm1, [])))
    t.append("")
    t.append(f"## Packets ({len(a['rows'])})\n")
    t.append(f"{n['p1']} {'aggressive' if am else 'main'} mode, {n['qm']} quick mode, {n['esp']} ESP-in-UDP "
             f"({n['esp'] // 2} pings, request and reply), {n['info']} informational (deletes). Payload lists of encrypted "
             "messages come from decrypting them (tshark with the logged Ka); UDP 4500 ISAKMP packets start with the "
             "4-byte non-ESP marker.\n")
    t.extend(lines)
    t.append("")
    t.append("## What the logs contain\n")
    t.append("Hex dumps by label (byte counts, in order of appearance) in `initiator.log`; `responder.log` has the same "
             "secrets (the same values: checked):\n")
    t.append("| label | bytes |\n|---|---|")
    t.extend(dump_table(a['idumps']))
    t.append("")
    t.append("Notes:")
    t.append("- `encryption initiator key` / `integrity initiator key` protect the initiator→responder SA "
             f"(SPI `0x{out_spi}`, chosen by the responder); the `initiator SA seed` is `protocol(03) | SPI | Ni_b | Nr_b` of that SA"
             + (" preceded by the quick-mode DH secret" if pfs else "") + ". The `responder` keys belong to the "
             f"responder→initiator SA (SPI `0x{in_spi}`).")
    if 'GCM' in p['ESP_PROPOSAL'].upper():
        t.append("- ESP AES-GCM: the logged encryption keys are 20 bytes = 16-byte AES key followed by the 4-byte salt (RFC 4106); no integrity key exists.")
    ka_note = ka_expansion(a['idumps'])
    if ka_note:
        t.append(ka_note)
    t.append("- `initial IV` is the phase-1 IV = hash(g^xi | g^xr) truncated to the cipher block size; the `next IV for MID …` dumps give the IV "
             "chain for each message ID (quick mode and informational IVs start at hash(last phase-1 CBC block | MID)).")
    t.append("- Encrypted ISAKMP messages are dumped before encryption / after decryption as `plain` (and `IV`, `padding`, `encrypted`).")
    t.append("- `HASH_I data` / `HASH_R data` are the PRF inputs (HASH_I = prf(SKEYID, g^xi | g^xr | CKY-I | CKY-R | SAi_b | IDii_b), "
             "HASH_R = prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)); `Hash(1)`..`Hash(3)` are the quick-mode hashes; "
             "`Hash` (one per informational message) is HASH(1) = prf(SKEYID_a, M-ID | N/D) of the delete messages.")
    if pfs:
        if qm_dh:
            t.append(f"- PFS: the quick-mode DH shared secret IS logged, as `DH secret` ({len(qm_dh[0])} bytes, chd level 4, by keymat_v1 "
                     "when deriving the CHILD SA keys); it is also the first part of the logged `initiator SA seed` / `responder SA seed` "
                     "(KEYMAT = prf+(SKEYID_d, g(qm)^xy | protocol | SPI | Ni_b | Nr_b)). The quick-mode KE and nonce payloads are visible in "
                     "the decrypted `plain` dumps and the `parsing`/`generated data` payload dumps.")
        else:
            t.append("- PFS: the quick-mode DH shared secret is NOT logged under its own label, but it is the first part of the logged "
                     "`initiator SA seed` / `responder SA seed` (KEYMAT = prf(SKEYID_d, g(qm)^xy | protocol | SPI | Ni_b | Nr_b)): "
                     "seed length = DH secret length + 1 + 4 + |Ni_b| + |Nr_b|. The quick-mode KE and nonce payloads are visible in the "
                     "decrypted `plain` dumps.")
    t.append("- Not logged: the PSK itself (it is the setting above) and the DH private values. The KE values and nonces have no "
             "labelled dump of their own: they are in the unlabelled `parsing`/`generated data` payload dumps (label empty or "
             "`generated data for this payload`), in `HASH_I data`/`HASH_R data` (KE values) and in the capture.")
    t.append("")
    t.append("## Verified\n")
    t.append("`tests/lab/ikvcap.py check` (run by make-capture.sh): tshark decrypted every encrypted ISAKMP message of the capture with the "
             "initiator cookie and the logged `encryption key Ka` (each starts with a HASH payload, or ID in message 5/6), checked the ICV of and decrypted every "
             "ESP packet with the logged ESP keys (inner packets are the ICMP echo requests/replies), and both logs agree on the DH secret, "
             "SKEYID_d, Ka and the ESP keys.")
    open(os.path.join(d, 'README.md'), 'w').write('\n'.join(t) + '\n')


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == 'check':
        rc = 0
        for d in sys.argv[2:]:
            print(f'== {d}')
            _, _, _, errs = check(d)
            rc |= bool(errs)
        sys.exit(rc)
    if len(sys.argv) == 5 and sys.argv[1] == 'readme':
        readme(sys.argv[2], sys.argv[3], sys.argv[4])
        sys.exit(0)
    print(__doc__, file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
    main()
