#!/usr/bin/env python3
"""Writes the seed corpora of the libFuzzer targets: tests/fuzz/corpus/NAME/ for each tests/fuzz/NAME_fuzz.cpp.

Run from anywhere: python3 tests/fuzz/make_corpus.py. Each directory is emptied and written again, so the files are
reproducible; they are committed, and `make fuzz` copies them to a scratch directory before fuzzing (new inputs
never land in tests/). Seeds are real protocol messages (what curl, tinyproxy, dante, haproxy, the srcproxy
reference client or a DNS server send), edge cases (longest fields, every address type), truncated messages and
a few of each kind of refusal, in the input layout each target's header comment describes.
"""

import hashlib
import ipaddress
import shutil
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CORPUS = HERE / "corpus"


def write(target, seeds):
    out = CORPUS / target
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name, data in seeds.items():
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        (out / name).write_bytes(data)


def ip(text):
    return ipaddress.ip_address(text).packed


def port(n):
    return struct.pack(">H", n)


# ---------------------------------------------------------------- PROXY protocol

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def tlv(kind, value):
    return bytes([kind]) + struct.pack(">H", len(value)) + value


def v2(command, family_transport, addresses=b"", tlvs=b"", with_crc=False, version=0x20):
    body = addresses + tlvs
    if with_crc:
        body += tlv(0x03, b"\x00\x00\x00\x00")
    header = V2_SIG + bytes([version | command, family_transport]) + struct.pack(">H", len(body)) + body
    if with_crc:
        header = header[:-4] + struct.pack(">I", crc32c(header))
    return header


def inet(src, dst, sport, dport):
    return ip(src) + ip(dst) + port(sport) + port(dport)


STREAM, UNSPEC_T, DGRAM = b"\x04", b"\x00", b"\x08"  # the options byte's transport (bits 2-3)


def proxy_protocol():
    tcp4 = inet("192.0.2.1", "198.51.100.2", 56324, 443)
    tcp6 = inet("2001:db8::1", "2001:db8::2", 40000, 8443)
    ssl = tlv(0x20, b"\x07" + b"\x00\x00\x00\x00" + tlv(0x21, b"TLSv1.3") + tlv(0x22, b"client.example") +
              tlv(0x23, b"TLS_AES_128_GCM_SHA256") + tlv(0x24, b"RSA-SHA256") + tlv(0x25, b"RSA2048"))
    all_ones = ":".join(["ffff"] * 8)
    longest_v1 = f"PROXY TCP6 {all_ones} {all_ones} 65535 65535\r\n"
    return {
        "v1_tcp4": STREAM + b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n\r\n",
        "v1_tcp6": STREAM + b"PROXY TCP6 2001:db8::1 2001:db8::2 40000 8443\r\n",
        "v1_unknown": STREAM + b"PROXY UNKNOWN\r\n",
        "v1_unknown_with_addresses": STREAM + b"PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n",
        "v1_longest": STREAM + longest_v1.encode(),
        "v1_lf_only": STREAM + b"PROXY TCP4 10.0.0.1 10.0.0.2 1 2\n",
        "v1_truncated": STREAM + b"PROXY TCP4 192.0.2.1 198.51.1",
        "v1_bad_port": STREAM + b"PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n",
        "v1_leading_zero": STREAM + b"PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n",
        "v1_refused_over_udp": DGRAM + b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
        "v1_only_v2_accepted": b"\x05" + b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
        "v2_tcp4": STREAM + v2(1, 0x11, tcp4) + b"payload",
        "v2_tcp6": STREAM + v2(1, 0x21, tcp6),
        "v2_udp4": DGRAM + v2(1, 0x12, inet("192.0.2.1", "198.51.100.2", 5353, 53)) + b"\x12\x34\x01\x00",
        "v2_udp6": DGRAM + v2(1, 0x22, inet("2001:db8::1", "2001:db8::53", 5353, 53)),
        "v2_local": STREAM + v2(0, 0x00),
        "v2_local_with_addresses": STREAM + v2(0, 0x11, tcp4),
        "v2_unspec": UNSPEC_T + v2(1, 0x00),
        "v2_unix": STREAM + v2(1, 0x31, b"/run/src.sock".ljust(108, b"\0") + b"/run/dst.sock".ljust(108, b"\0")),
        "v2_tlvs": STREAM + v2(1, 0x11, tcp4, tlv(0x01, b"h2") + tlv(0x02, b"www.example.com") +
                               tlv(0x05, b"\x01" * 16) + tlv(0x30, b"blue") + tlv(0x04, b"\0\0") +
                               tlv(0xE0, b"custom") + ssl),
        "v2_crc32c": STREAM + v2(1, 0x11, tcp4, tlv(0x02, b"example.org"), with_crc=True),
        "v2_bad_crc32c": STREAM + v2(1, 0x11, tcp4, tlv(0x03, b"\xde\xad\xbe\xef")),
        "v2_unique_id_too_long": STREAM + v2(1, 0x11, tcp4, tlv(0x05, b"x" * 129)),
        "v2_tlv_overruns": STREAM + v2(1, 0x11, tcp4, b"\x02\x00\x10abc"),
        "v2_stream_over_udp": DGRAM + v2(1, 0x11, tcp4),
        "v2_bad_version": STREAM + v2(1, 0x11, tcp4, version=0x30),
        "v2_bad_command": STREAM + v2(2, 0x11, tcp4),
        "v2_short_address_block": STREAM + V2_SIG + b"\x21\x11\x00\x08" + tcp4[:8],
        "v2_truncated_fixed": STREAM + v2(1, 0x11, tcp4)[:15],
        "v2_truncated_body": STREAM + v2(1, 0x21, tcp6)[:30],
        "v2_signature_only": STREAM + V2_SIG,
        "not_proxy": STREAM + b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "tls_client_hello": STREAM + bytes.fromhex("16030102000100"),
    }


# ---------------------------------------------------------------- SOCKS5

def socks_address(kind, value, p):
    if kind == 1 or kind == 4:
        return bytes([kind]) + ip(value) + port(p)
    name = value.encode()
    return b"\x03" + bytes([len(name)]) + name + port(p)


def socks5_server():
    connect = lambda kind, value, p, cmd=1: b"\x05" + bytes([cmd]) + b"\x00" + socks_address(kind, value, p)
    return {
        "curl_ipv4": b"\x05\x01\x00" + connect(1, "93.184.216.34", 80),
        "curl_hostname": b"\x05\x02\x00\x01" + connect(3, "example.com", 443),
        "ipv6": b"\x05\x02\x00\x02" + connect(4, "2001:db8::10", 8080),
        "ipv4_mapped": b"\x05\x01\x00" + connect(4, "::ffff:192.0.2.5", 22),
        "with_payload": b"\x05\x01\x00" + connect(1, "192.0.2.1", 443) + b"\x16\x03\x01\x00\x05hello",
        "greeting_only": b"\x05\x01\x00",
        "greeting_truncated": b"\x05\x03\x00\x01",
        "greeting_255_methods": b"\x05\xff" + bytes(range(255)),
        "userpass_only": b"\x05\x01\x02",
        "no_methods": b"\x05\x00",
        "socks4": b"\x04\x01\x00\x50\x5d\xb8\xd8\x22user\x00",
        "http_instead": b"GET / HTTP/1.1\r\n\r\n",
        "bind": b"\x05\x01\x00" + connect(1, "0.0.0.0", 0, cmd=2),
        "udp_associate": b"\x05\x01\x00" + connect(1, "0.0.0.0", 0, cmd=3),
        "unknown_command": b"\x05\x01\x00" + connect(3, "example.com", 80, cmd=9),
        "unknown_address_type": b"\x05\x01\x00\x05\x01\x00\x05\x00\x00\x00",
        "empty_domain": b"\x05\x01\x00\x05\x01\x00\x03\x00\x00\x50",
        "domain_with_space": b"\x05\x01\x00" + connect(3, "exa mple.com", 80),
        "domain_with_newline": b"\x05\x01\x00" + connect(3, "a.example\nX-Injected: 1", 80),
        "longest_domain": b"\x05\x01\x00" + connect(3, ("a" * 63 + ".") * 3 + "b" * 63, 65535),
        "bad_reserved": b"\x05\x01\x00\x05\x01\x01\x01\x7f\x00\x00\x01\x00\x50",
        "request_truncated": b"\x05\x01\x00" + connect(4, "2001:db8::10", 8080)[:12],
    }


def socks5_client():
    NOAUTH, USERPASS, PIPELINED = b"\x00", b"\x01", b"\x02"
    reply = lambda kind, value, p, code=0: b"\x05" + bytes([code]) + b"\x00" + socks_address(kind, value, p)
    return {
        "dante_ipv4": NOAUTH + b"\x05\x00" + reply(1, "10.0.0.5", 41234),
        "userpass_ipv6": USERPASS + b"\x05\x02" + b"\x01\x00" + reply(4, "2001:db8::5", 41234),
        "userpass_offered_noauth_chosen": USERPASS + b"\x05\x00" + reply(1, "0.0.0.0", 0),
        "userpass_rejected": USERPASS + b"\x05\x02\x01\x01",
        "auth_bad_version": USERPASS + b"\x05\x02\x05\x00",
        "pipelined_domain": PIPELINED + b"\x05\x00" + reply(3, "proxy.example", 1080),
        "pipelined_with_payload": PIPELINED + b"\x05\x00" + reply(1, "192.0.2.9", 9000) + b"HTTP/1.1 200 OK\r\n",
        "no_acceptable_method": NOAUTH + b"\x05\xff",
        "method_not_offered": NOAUTH + b"\x05\x02",
        "refused": NOAUTH + b"\x05\x00\x05\x05",
        "not_allowed": NOAUTH + b"\x05\x00" + reply(1, "0.0.0.0", 0, code=2),
        "unassigned_code": NOAUTH + b"\x05\x00\x05\x2a\x00",
        "bad_reserved": NOAUTH + b"\x05\x00\x05\x00\x07\x01",
        "unknown_address_type": NOAUTH + b"\x05\x00\x05\x00\x00\x09",
        "empty_domain": NOAUTH + b"\x05\x00\x05\x00\x00\x03\x00",
        "longest_domain": NOAUTH + b"\x05\x00" + reply(3, "d" * 255, 443),
        "reply_truncated": NOAUTH + b"\x05\x00" + reply(4, "2001:db8::5", 1)[:9],
        "socks4_reply": NOAUTH + b"\x00\x5a\x00\x00\x00\x00\x00\x00",
    }


def socks5_udp():
    NONE, PEER4, PEER6, MAPPED = b"\x00", b"\x01", b"\x02", b"\x03"  # the control connection's peer
    udp = lambda kind, value, p, frag=0: b"\x00\x00" + bytes([frag]) + socks_address(kind, value, p)
    reply = lambda kind, value, p, code=0: b"\x05" + bytes([code]) + b"\x00" + socks_address(kind, value, p)
    dns_answer = bytes.fromhex("1234 8180 0001 0001 0000 0000") + b"\x07example\x03com\x00\x00\x01\x00\x01" + \
        bytes.fromhex("c00c 0001 0001 0000012c 0004 c0000201")
    return {
        "dns_reply_ipv4": PEER4 + udp(1, "192.0.2.53", 53) + dns_answer,
        "dns_reply_ipv6": PEER6 + udp(4, "2001:db8::53", 53) + dns_answer,
        "domain_source": PEER4 + udp(3, "dns.example", 53) + dns_answer,
        "longest_domain": PEER4 + udp(3, "d" * 255, 65535) + b"x",
        "empty_payload": PEER4 + udp(1, "203.0.113.7", 443),
        "mapped_source": MAPPED + udp(4, "::ffff:192.0.2.53", 53) + b"\x00",
        "fragment_1": PEER4 + udp(1, "192.0.2.53", 53, frag=1) + b"part one",
        "fragment_last": PEER4 + udp(1, "192.0.2.53", 53, frag=0x81) + b"part two",
        "reserved_set": PEER4 + b"\x00\x01" + udp(1, "192.0.2.53", 53)[2:] + b"q",
        "unknown_atyp": PEER4 + b"\x00\x00\x00\x05" + bytes(6),
        "empty_domain": PEER4 + b"\x00\x00\x00\x03\x00\x00\x35",
        "domain_overflow": PEER4 + b"\x00\x00\x00\x03\xffshort",
        "truncated_ipv6": PEER6 + udp(4, "2001:db8::53", 53)[:15],
        "dante_reply": PEER4 + reply(1, "198.51.100.2", 41394),
        "own_address_v4": PEER4 + reply(1, "0.0.0.0", 8080),
        "own_address_v6": PEER6 + reply(4, "::", 8080),
        "own_address_no_peer": NONE + reply(1, "0.0.0.0", 8080),
        "own_address_mapped_peer": MAPPED + reply(1, "0.0.0.0", 8080),
        "relay_port_zero": PEER4 + reply(1, "198.51.100.2", 0),
        "relay_domain": PEER4 + reply(3, "relay.example", 5000),
        "udp_not_supported": PEER4 + reply(1, "0.0.0.0", 0, code=7),
        "reply_truncated": PEER6 + reply(4, "2001:db8::2", 1)[:12],
    }


# ---------------------------------------------------------------- HTTP CONNECT

def http_connect():
    long_head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Filler-%05d: %s\r\n" % (i, b"f" * 40) for i in range(300))
    return {
        "established": "HTTP/1.1 200 Connection established\r\n\r\n",
        "tinyproxy": "HTTP/1.0 200 Connection established\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\n",
        "squid_with_payload": "HTTP/1.1 200 Connection established\r\n\r\nSSH-2.0-OpenSSH_9.2p1\r\n",
        "no_reason_lf_only": "HTTP/1.1 200\n\n",
        "empty_reason": "HTTP/1.1 204 \r\nServer: x\r\n\r\n",
        "auth_required": "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"proxy\"\r\n"
                         "Content-Length: 0\r\n\r\n",
        "forbidden_with_body": "HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: 22\r\n\r\n"
                               "<h1>403 Forbidden</h1>",
        "bad_gateway": "HTTP/1.0 502 Bad Gateway\r\n\r\n",
        "continue_then_ok": "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
        "reason_with_tab": "HTTP/1.1 200 Connection\testablished\r\n\r\n",
        "truncated_status": "HTTP/1.1 20",
        "truncated_headers": "HTTP/1.1 200 OK\r\nVia: 1.1 proxy\r\n",
        "http2": "HTTP/2 200\r\n\r\n",
        "http09": "HTTP/0.9 200 OK\r\n\r\n",
        "code_600": "HTTP/1.1 600 Nope\r\n\r\n",
        "ssh_banner": "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
        "html_error_page": "<html><body>Bad Request</body></html>\n",
        "control_in_reason": "HTTP/1.1 200 O\x01K\r\n\r\n",
        "head_over_limit": long_head,
        # The HTTP probe's GET answers (parse_status_line): a status line alone, and one over its 1024 bytes.
        "probe_no_content": "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
        "probe_status_line_over_limit": "HTTP/1.1 200 " + "a" * 1100 + "\r\n\r\n",
    }


# ---------------------------------------------------------------- srcproxy

def srcproxy_request(auth, dst, dport, src, sport, dst_len=None, src_len=None, version=1, opcode=1):
    d, s = ip(dst), ip(src)
    return (bytes([version, opcode, len(auth)]) + auth + bytes([dst_len or len(d)]) + d + port(dport) +
            bytes([src_len or len(s)]) + s + port(sport))


def srcproxy_header():
    digest = hashlib.sha256(b"correct horse battery staple").digest()
    blank = hashlib.sha256(b"").digest()
    mapped = ipaddress.IPv6Address("::ffff:192.0.2.10").packed
    return {
        "reference_client_v4": srcproxy_request(digest, "93.184.216.34", 443, "192.0.2.10", 50000) + b"\x16\x03\x01",
        "reference_client_v6": srcproxy_request(digest, "2001:db8::80", 80, "2001:db8::10", 0),
        "blank_auth": srcproxy_request(blank, "198.51.100.7", 22, "192.0.2.11", 40001),
        "mapped_source": bytes([1, 1, 32]) + digest + b"\x04" + ip("93.184.216.34") + port(443) + b"\x10" + mapped +
                         port(50001),
        "no_auth": srcproxy_request(b"", "10.0.0.1", 8080, "10.0.0.2", 1),
        "longest_auth": srcproxy_request(b"A" * 255, "2001:db8::1", 65535, "2001:db8::2", 65535),
        "families_differ": srcproxy_request(digest, "93.184.216.34", 443, "2001:db8::10", 1),
        "dst_port_zero": srcproxy_request(digest, "93.184.216.34", 0, "192.0.2.10", 1),
        "bad_version": srcproxy_request(digest, "93.184.216.34", 443, "192.0.2.10", 1, version=2),
        "bad_opcode": srcproxy_request(digest, "93.184.216.34", 443, "192.0.2.10", 1, opcode=3),
        "bad_dst_length": bytes([1, 1, 0, 5]) + b"\x01\x02\x03\x04\x05" + port(80),
        "bad_src_length": bytes([1, 1, 0, 4]) + ip("10.0.0.1") + port(80) + b"\x06",
        "truncated_auth": bytes([1, 1, 32]) + digest[:20],
        "truncated_source": srcproxy_request(digest, "93.184.216.34", 443, "192.0.2.10", 1)[:-3],
    }


# ---------------------------------------------------------------- DNS probe

def dns_answer(qid, flags, qd=1, an=0, ns=0, ar=0, body=b"", length=None):
    message = struct.pack(">HHHHHH", qid, flags, qd, an, ns, ar) + body
    return struct.pack(">H", len(message) if length is None else length) + message


def dns_probe():
    question = b"\x00\x00\x01\x00\x01"  # ". A IN"
    soa = (b"\x00\x00\x06\x00\x01\x00\x01\x51\x80\x00\x40" + b"\x01a\x0croot-servers\x03net\x00" +
           b"\x05nstld\x0cverisign-grs\x03com\x00" + struct.pack(">IIIII", 2024010100, 1800, 900, 604800, 86400))
    soa = soa[:9] + struct.pack(">H", len(soa) - 11) + soa[11:]
    return {
        "noerror_with_soa": b"\x12\x34" + dns_answer(0x1234, 0x81A0, ns=1, body=question + soa),
        "header_only": b"\xbe\xef" + dns_answer(0xBEEF, 0x8180),
        "servfail": b"\x00\x01" + dns_answer(0x0001, 0x8182, body=question),
        "refused": b"\xff\xff" + dns_answer(0xFFFF, 0x8185, body=question),
        "wrong_id": b"\x12\x34" + dns_answer(0x4321, 0x8180, body=question),
        "query_not_answer": b"\x12\x34" + dns_answer(0x1234, 0x0120, body=question),
        "length_too_short": b"\x12\x34" + dns_answer(0x1234, 0x8180, length=11),
        "truncated_header": b"\x12\x34" + dns_answer(0x1234, 0x8180)[:9],
        "length_prefix_only": b"\x12\x34\x00\x1d",
        "http_reply": b"\x12\x34HTTP/1.1 400 Bad Request\r\n\r\n",
    }


# ---------------------------------------------------------------- status page requests

def status_request():
    curl = "Host: 127.0.0.1:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
    browser = ("Host: localhost:8080\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 "
               "Firefox/115.0\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
               "Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\n"
               "Upgrade-Insecure-Requests: 1\r\n\r\n")
    return {
        "curl_root": "GET / HTTP/1.1\r\n" + curl,
        "browser_root": "GET / HTTP/1.1\r\n" + browser,
        "status_json": "GET /status HTTP/1.1\r\n" + curl,
        "metrics_prometheus": "GET /metrics HTTP/1.1\r\nHost: 10.0.0.1:8080\r\nUser-Agent: Prometheus/2.42.0\r\n"
                              "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n"
                              "\r\n",
        "version_http10": "GET /version HTTP/1.0\r\n\r\n",
        "head_root": "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
        "post_405": "POST /status HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        "not_found": "GET /favicon.ico HTTP/1.1\r\n" + curl,
        "query_and_fragment": "GET /status?pretty=1&x=%20#top HTTP/1.1\r\n\r\n",
        "absolute_form": "GET http://127.0.0.1:8080/metrics?x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
        "absolute_no_path": "GET https://example.com HTTP/1.1\r\n\r\n",
        "leading_empty_lines_lf": "\r\n\nGET / HTTP/1.1\nAccept: TEXT/HTML\n\n",
        "http2_version": "GET / HTTP/2.0\r\n\r\n",
        "asterisk_target": "OPTIONS * HTTP/1.1\r\n\r\n",
        "obs_fold": "GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n",
        "space_before_colon": "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        "control_in_header": "GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
        "http09": "GET /\r\n\r\n",
        "truncated": "GET /status HTTP/1.1\r\nHost: 127.0.0.1",
        "tls_client_hello": bytes.fromhex("16030100a5010000a10303") + bytes(32),
        "head_over_limit": "GET / HTTP/1.1\r\n" + "".join("X-Filler-%04d: %s\r\n" % (i, "f" * 60) for i in range(120)),
    }


# ---------------------------------------------------------------- configuration files

def json5():
    return {
        "srcproxy_server": (ROOT / "conf/srcproxy-server.json5").read_bytes(),
        "srcproxy_client": (ROOT / "conf/srcproxy-client.json5").read_bytes(),
        "spec_example": """// This file is written in JSON5 syntax, naturally, but npm needs a regular
// JSON file, so compile via `npm run build`. Be sure to keep both in sync!
{
  // comments
  unquoted: 'and you can quote me on that',
  singleQuotes: 'I can use "double quotes" here',
  lineBreaks: "Look, Mom! \\
No \\\\n's!",
  hexadecimal: 0xdecaf,
  leadingDecimalPoint: .8675309, andTrailing: 8675309.,
  positiveSign: +1,
  trailingComma: 'in objects', andIn: ['arrays',],
  "backwardsCompatible": "with JSON",
}
""",
        "plain_json": '{"listen": "0.0.0.0:8000", "acl": [{"auth": "x", "allowed_src_ips": ["10.0.0.0/8"]}]}',
        "escapes": r"""['\x41\u00e9\uD83D\uDE00', "tab\tquote\"", 'line\
continued', '\a\/\'', "\v\f\b"]""",
        "white_space": "\ufeff{\u00a0a:\u20281,\u2029b:\u30002\v\f}".encode("utf-8"),
        "numbers": "[0x1234, -0XfF, +.5, 5., 1e10, -0, 0.0, 1E+2, 18446744073709551615]",
        "unicode_key": "{\\u0061bc: 1, caf\u00e9: 2, $_x9: null}".encode("utf-8"),
        "nested_64": "[" * 64 + "]" * 64,
        "nested_65": "[" * 65 + "]" * 65,
        "unterminated_string": "{\n  a: 'open\n}",
        "unterminated_comment": "[1] /* trailing",
        "infinity": "{a: Infinity, b: -NaN}",
        "nul_escape": "['\\u0000']",
        "unpaired_surrogate": "['\\uD83D']",
        "leading_zero": "[007]",
        "empty": "",
    }


def ini():
    return {
        "ferry_run": (ROOT / "conf/ferry-run.ini").read_bytes(),
        "moproxy_list": "[server-1]\naddress = 127.0.0.1:2001 ; inline comment\nprotocol = socks5\n\n"
                        "# a comment\n[server-2]\naddress: [::1]:3128\nprotocol = http\nhttp username = u\n",
        "bom_crlf": "\ufeff; comment\r\n[a]\r\nkey = value # not a comment\r\nempty =\r\n[ b ]\r\n".encode("utf-8"),
        "empty_section_name": "[]\nk=v\n[]\n",
        "semicolon_value": "[s]\nv=;not a comment\nw = a;b ; comment\n",
        "indented_continuation": "[s]\nkey = one\n  two\n",
        "indented_comment_ok": "[s]\nkey = one\n  ; fine\n",
        "missing_bracket": "[server\nkey=v\n",
        "text_after_header": "[s] trailing\n",
        "key_outside_section": "key = v\n[s]\n",
        "duplicate_key": "[s]\na=1\nb=2\na=3\n",
        "empty_key": "[s]\n= v\n",
        "no_separator": "[s]\njust words\n",
        "nul_byte": b"[s]\nk=v\x00w\n",
        "line_199": "[s]\nk=" + "x" * 196 + "\n",
        "line_200": "[s]\nk=" + "x" * 197 + "\n",
    }


def server_list():
    return {
        # A tag of 197 bytes, the longest a section header of the INI reader's 199-byte lines holds (the fuzzer
        # found that writing it back as "tag=" passed the limit).
        "long_section_tag": "[" + "s" * 197 + "]\naddress=127.0.0.1:2001\nprotocol=socksv5\n",
        "moproxy_readme": "[server-1]\naddress=127.0.0.1:2001 ;the only required field\nprotocol=socks5\n"
                          "[server-2]\naddress=127.0.0.1:2002\nprotocol=http\ntest dns=127.0.0.53:53\n"
                          "max wait=1.5\nscore base=-100\n"
                          "[backup]\naddress=127.0.0.1:2002\nprotocol=socksv5\nscore base=5000\n"
                          "capabilities = cn, global\n",
        "every_key_socks": "[sock]\ntag = s1\naddress = [2001:db8::1]:1080\nprotocol = SOCKS5\n"
                           "test dns = [2001:4860:4860::8888]:53\nscore base = 2147483647\nmax wait = .25\n"
                           "capabilities = a-b c_d,e\nsocks username = alice\nsocks password = pa;ss#word\n"
                           "socks fake handshaking = yes\n",
        "every_key_http": "[web]\naddress = 192.0.2.3:3128\nprotocol = http\nhttp username = bob\n"
                          "http password = s3cret\nhttp allow connect payload = on\nscore base = -2147483648\n",
        "empty": "",
        "comments_only": "; nothing\n# here\n",
        "duplicate_tag": "[a]\naddress=127.0.0.1:1\nprotocol=http\n[b]\ntag=a\naddress=127.0.0.1:2\nprotocol=http\n",
        "wildcard_address": "[a]\naddress=0.0.0.0:1080\nprotocol=socks5\n",
        "port_zero": "[a]\naddress=127.0.0.1:0\nprotocol=socks5\n",
        "missing_protocol": "[a]\naddress=127.0.0.1:1080\n",
        "other_protocol_key": "[a]\naddress=127.0.0.1:1080\nprotocol=socks5\nhttp username=x\n",
        "socks_user_without_password": "[a]\naddress=127.0.0.1:1080\nprotocol=socks5\nsocks username=x\n",
        "listen_ports": "[a]\naddress=127.0.0.1:1080\nprotocol=socks5\nlisten ports=1,2\n",
        "host_name_address": "[a]\naddress = proxy.example.net:1080\nprotocol = http\n"
                             "test url = http://probe.test:8080/generate_204?x=1#top\n",
        "test_url_ipv6": "[b]\naddress = [2001:db8::2]:3128\nprotocol = http\ntest url = HTTP://[2001:db8::1]?q\n",
        "test_url_and_dns": "[c]\naddress = 192.0.2.1:1\nprotocol = socks5\ntest url = http://a.test/\n"
                            "test dns = 192.0.2.53:53\n",
        "test_url_https": "[d]\naddress = a.test:1\nprotocol = socks5\ntest url = https://a.test/\n",
        "score_out_of_range": "[a]\naddress=127.0.0.1:1080\nprotocol=socks5\nscore base=2147483648\n",
        "max_wait_too_long": "[a]\naddress=127.0.0.1:1080\nprotocol=socks5\nmax wait=3600.001\n",
        "bad_tag": "[a b]\naddress=127.0.0.1:1080\nprotocol=socks5\n",
        "bad_capability": "[a]\naddress=127.0.0.1:1080\nprotocol=socks5\ncapabilities=a.b\n",
        "http_user_colon": "[a]\naddress=127.0.0.1:3128\nprotocol=http\nhttp username=a:b\n",
    }


def subnets():
    return {
        "example": (ROOT / "conf/allowed-subnets.example").read_bytes(),
        "mixed": "10.0.0.0/8\n192.168.1.77/24   # host bits are cleared\r\n\n\t::1/128\n2001:db8::/32\n"
                 "::ffff:10.0.0.0/104\n0.0.0.0/0\n::/0\n",
        "empty": "",
        "comments_only": "# nothing allowed here means everyone\n\n",
        "mask_33": "10.0.0.0/33\n",
        "leading_zero_octet": "010.0.0.1/8\n",
        "zone": "fe80::1%eth0/64\n",
        "no_mask": "192.0.2.1\n",
        "space_inside": "10.0.0.0 /8\n",
        "huge_mask": "::/99999999\n",
        "v4_tail": "::ffff:1.2.3.4/128\n64:ff9b::192.0.2.33/96\n",
        "nul_byte": b"10.0.0.0\x00/8\n",
    }


# ---------------------------------------------------------------- UDP datagrams

def udp_prelude(flags, sender, sender_port, prefix_length=0):
    address = ip(sender)
    return bytes([flags]) + address.ljust(16, b"\0") + port(sender_port) + bytes([prefix_length])


def udp_datagram():
    dns = b"\x12\x34\x01\x20\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01"
    udp4 = v2(1, 0x12, inet("203.0.113.5", "192.0.2.53", 5353, 53))
    udp6 = v2(1, 0x22, inet("2001:db8::5", "2001:db8::53", 5353, 53))
    both = 0x03
    return {
        "proxy_udp4": udp_prelude(both, "10.0.0.1", 4000) + udp4 + dns,
        "proxy_udp6": udp_prelude(both | 0x04, "2001:db8:ffff::1", 4000) + udp6 + dns,
        "mapped_sender": udp_prelude(both | 0x08, "10.0.0.1", 4000) + udp4 + dns,
        "local_health_check": udp_prelude(both, "10.0.0.1", 4001) + v2(0, 0x00) + b"ping",
        "unspec": udp_prelude(both, "10.0.0.1", 4002) + v2(1, 0x00),
        "empty_payload": udp_prelude(both, "10.0.0.1", 4003) + udp4,
        "with_tlvs": udp_prelude(both, "10.0.0.1", 4004) + v2(1, 0x12, inet("203.0.113.5", "192.0.2.53", 1, 53),
                                                               tlv(0x05, b"id-1"), with_crc=True) + dns,
        "allowed_sender": udp_prelude(both | 0x10, "10.0.0.1", 4000, 8) + udp4 + dns,
        "sender_not_allowed": udp_prelude(both | 0x30, "10.0.0.1", 4000, 8) + udp4 + dns,
        "no_v6_target": udp_prelude(0x01, "10.0.0.1", 4000) + udp6 + dns,
        "no_targets": udp_prelude(0x00, "10.0.0.1", 4000) + udp4 + dns,
        "v1_refused": udp_prelude(both, "10.0.0.1", 4000) + b"PROXY TCP4 203.0.113.5 192.0.2.53 5353 53\r\n",
        "stream_refused": udp_prelude(both, "10.0.0.1", 4000) + v2(1, 0x11, inet("203.0.113.5", "192.0.2.53", 1, 2)),
        "unix_refused": udp_prelude(both, "10.0.0.1", 4000) + v2(1, 0x32, bytes(216)),
        "truncated": udp_prelude(both, "10.0.0.1", 4000) + udp4[:20],
        "no_header": udp_prelude(both, "10.0.0.1", 4000) + dns,
        "dynamic_destination": udp_prelude(both | 0x40, "10.0.0.1", 4000) + udp4 + dns,
        "dynamic_allowed_port": udp_prelude(both | 0xC0, "10.0.0.1", 4000) + udp6 + dns,
        "dynamic_forbidden_port": udp_prelude(both | 0xC0, "10.0.0.1", 4000) +
        v2(1, 0x12, inet("203.0.113.5", "192.0.2.53", 5353, 5300)) + dns,
        "dynamic_local": udp_prelude(both | 0xC0, "10.0.0.1", 4001) + v2(0, 0x00) + b"ping",
    }


# ---------------------------------------------------------------- srcproxy ACL

def srcproxy_acl():
    return {
        "two_entries": "auth alice\nsrc 192.0.2.0/24\nsrc 2001:db8::/32\ndst 0.0.0.0/0\nport 443\nport 8000-8999\n"
                       "auth \nsrc 10.0.0.0/8\n"
                       "check alice 192.0.2.7:0 93.184.216.34:443\n"
                       "check alice 198.51.100.1:0 93.184.216.34:443\n"
                       "check alice [::ffff:192.0.2.7]:0 [::ffff:93.184.216.34]:8080\n"
                       "check alice 192.0.2.7:0 [2001:db8::1]:443\n"
                       "check  10.1.1.1:0 [2001:db8::1]:80\n"
                       "check bob 10.1.1.1:0 10.0.0.2:22\n"
                       "check raw:short 10.0.0.1:0 10.0.0.2:22\n",
        "acl_off": "check anyone 10.0.0.1:1 10.0.0.2:2\ncheck raw: 0.0.0.0:0 [::]:1\n",
        "ports_only": "auth svc\nport 22\nport 1024 - 65535\ncheck svc 127.0.0.1:5 127.0.0.1:22\n"
                      "check svc 127.0.0.1:5 127.0.0.1:80\ncheck svc 127.0.0.1:5 127.0.0.1:1024\n",
        "duplicate_auth": "auth same\nsrc 10.0.0.0/8\nauth other\nauth same\ncheck same 10.0.0.1:1 10.0.0.2:2\n",
        "ranges": "1-65535\n 80 - 90 \n0\n65536\n90-80\n00080\n123456\n-5\n5-\n\t443\t\n1-1\n",
    }


# ---------------------------------------------------------------- takeover (manifest, hello, saved servers)

def takeover():
    saved = ('{"servers":[{"tag":"a","protocol":"SOCKSv5","address":"127.0.0.1:1081","score":120,"up":true,'
             '"last_delay_ms":20,"score_before_down":null,"closes":["5",3],"history":[20,null,25],"delay":25,'
             '"conn_total":5,"conn_error":1,"tx_bytes":15000,"rx_bytes":15000}]}')
    return {
        "manifest": '{"takeover":1,"pid":42,"version":"0.1.0","sockets":[{"kind":"tcp","address":"0.0.0.0:8443",'
                    '"name":"","path":""},{"kind":"udp","address":"[2001:db8::1]:53","name":"dns","path":""},'
                    '{"kind":"takeover","address":"","name":"","path":"/run/ferry.sock"}],"state":"x\\ny\\n"}',
        "manifest_unix": '{"takeover":1,"pid":43,"version":"0.1.0","sockets":[{"kind":"unix","address":"",'
                         '"name":"status","path":"/run/moproxy/web.sock"}],"state":""}',
        "manifest_state": '{"takeover":1,"pid":7,"version":"v","sockets":[],"state":' +
                          '"' + saved.replace('"', '\\"') + '"}',
        "hello": '{"takeover":1,"pid":31337,"version":"0.1.0"}',
        "wrong_version": '{"takeover":2,"pid":1,"sockets":[]}',
        "bad_kind": '{"takeover":1,"sockets":[{"kind":"sctp","address":"1.2.3.4:5"}]}',
        "saved_servers": saved,
        "saved_down": '{"servers":[{"tag":"b","protocol":"HTTP","address":"[::1]:3128","score":null,"up":false,'
                      '"last_delay_ms":null,"score_before_down":400,"closes":["18446744073709551615",64],'
                      '"history":[null,null],"delay":null,"conn_total":0,"conn_error":0,"tx_bytes":0,'
                      '"rx_bytes":0}]}',
    }


# ---------------------------------------------------------------- destination name (ClientHello SNI, HTTP Host)

# OpenSSL 3's ClientHello for "WWW.Example.COM" (Python's ssl module), one record.
OPENSSL_HELLO = bytes.fromhex(
    "1603010200010001fc0303a953085e2042b34eb64bbbfd6f3afb8e2d192e721cbd3b80b0b3a84ea5cb17492028a70e28c6352e13c492f6fcc9958ad9030f19c510f5a851a1266dfda67af78b0024130213031301c02cc030c02bc02fcca9cca8c024c028c023c027009f009e006b006700ff0100018f00000014001200000f5757572e4578616d706c652e434f4d000b000403000102000a00160014001d0017001e0019001801000101010201030104002300000016000000170000000d002a0028040305030603080708080809080a080b080408050806040105010601030303010302040205020602002b00050403040303002d00020101003300260024001d0020e2f525e05bc40e74f1c7dd8b0abe54c25c57d8d3d1dd17c6ac9e5b19a8998f4a001500de000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000")


def destination_name():
    body = OPENSSL_HELLO[5:]
    split = (b"\x16\x03\x01" + (100).to_bytes(2, "big") + body[:100] +
             b"\x16\x03\x01" + (len(body) - 100).to_bytes(2, "big") + body[100:])
    return {
        "openssl_hello": OPENSSL_HELLO,
        "two_records": split,
        "http_host": b"GET /index.html HTTP/1.1\r\nUser-Agent: curl\r\nHost: WWW.Example.com:8080\r\n\r\n",
        "http_v6": b"GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n",
        "http10": b"GET / HTTP/1.0\n\n",
        "not_tls": b"SSH-2.0-OpenSSH_9.2\r\n",
    }


def policy():
    return {
        "every_form": "# comment\n\ndefault require a\nlisten port 8001 require cap1 or cap2\n"
                      "LISTEN PORT 8003 require!!! cap3 # three\ndst ip 0.0.0.0/0 direct\n"
                      "dst ip 192.0.2.0/24 reject!\ndst ip 2001:db8::/32 require v6\ndst ip ::1 direct\n"
                      "dst domain . require any\ndst domain Example.COM. require us\r\n"
                      "dst domain a.example.com reject!!!!!\n\t dst domain cn direct\t#x\n",
        "priorities": "default require! def\nlisten port 1 reject\ndst domain a require! a\n"
                      "dst domain a.a reject!\ndst domain a.a.a require!! aaa\ndst domain a.a.a.a require!! aaaa\n",
        "bad_port": "listen port 0 direct\n",
        "bad_prefix": "dst ip 10.0.0.0/33 direct\n",
        "bad_priority": "default reject!!!!!!\n",
        "bad_caps": "default require a b\n",
        "mapped_tail": "dst ip ::ffff:1.2.3.4 direct\n",
        "request_tail": "dst domain example.com require x\nwww.example.com\x00\x50\xc0\x00\x02\x01",
    }


TARGETS = {
    "proxy_protocol": proxy_protocol,
    "socks5_server": socks5_server,
    "socks5_client": socks5_client,
    "socks5_udp": socks5_udp,
    "http_connect": http_connect,
    "srcproxy_header": srcproxy_header,
    "dns_probe": dns_probe,
    "status_request": status_request,
    "json5": json5,
    "ini": ini,
    "server_list": server_list,
    "subnets": subnets,
    "udp_datagram": udp_datagram,
    "srcproxy_acl": srcproxy_acl,
    "takeover": takeover,
    "destination_name": destination_name,
    "policy": policy,
}

if __name__ == "__main__":
    for name, make in TARGETS.items():
        seeds = make()
        write(name, seeds)
        print(f"{name}: {len(seeds)} seeds")
