"""Helpers for the tern-imapd integration tests (standard library only).

- cluster coordinates from the environment set by with_cluster.sh; new_user() and
  tls_context() (re-exported from ../common/testlib.py, which also holds the base of
  TranscriptResult and what main() runs);
- a strict IMAP response reader/parser (literals, nested lists, status responses);
- RawClient: a raw socket IMAP client for what imaplib cannot do (IDLE, SASL-IR, LITERAL+,
  pipelining, malformed input);
- TIMAP4 / TIMAP4_SSL: imaplib clients that record the exact bytes exchanged, so a test can
  inspect the raw responses of the last command and a failure report shows the transcript;
- MIME message builders that know the byte ranges of every part, to compute what
  BODY[section], BODYSTRUCTURE and friends must return.
"""

import imaplib
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from common import testlib as common  # noqa: E402
from common.testlib import new_user, require_env, tls_context  # noqa: E402

# The names the test scripts import from here (common.testlib's among them).
__all__ = [
    "HOST", "IMAP_PORT", "IMAPS_PORT", "NEW_USER", "TERN_CA", "TIMAP4", "TIMAP4_SSL", "TIMEOUT",
    "TRANSCRIPT", "Atom", "compare_bodystructure", "compare_envelope", "crlf",
    "expected_bodystructure", "IMAPTestCase", "Literal", "main", "new_user", "Params",
    "parse_ctype", "parse_status_items", "Part", "ProtocolError", "quote", "RawClient", "Response",
    "seqset_numbers", "split_responses", "split_responses_plain", "tls_context", "tokenize",
    "Transcript", "TranscriptResult"]

HOST = "127.0.0.1"

IMAP_PORT = int(require_env("IMAP_PORT"))
IMAPS_PORT = int(require_env("IMAPS_PORT"))
TERN_CA = os.environ.get("TERN_CA", "")
NEW_USER = os.environ.get("NEW_USER", "")

TIMEOUT = 15  # seconds for any single socket read


# ---------------------------------------------------------------------------------------------
# Transcript: every byte sent and received by every client, per test; printed on failure.


class Transcript:
    MAX_CHUNK = 700

    def __init__(self):
        self.lock = threading.Lock()
        self.lines = []
        self.test = ""

    def reset(self, test):
        with self.lock:
            self.lines = []
            self.test = test

    def add(self, label, direction, data):
        if not data:
            return
        text = data[: self.MAX_CHUNK].decode("latin-1")
        if len(data) > self.MAX_CHUNK:
            text += f"...<{len(data) - self.MAX_CHUNK} more bytes>"
        with self.lock:
            for i, line in enumerate(text.split("\r\n")):
                if i > 0 and line == "":
                    continue
                self.lines.append(f"[{label}] {direction} {line}")

    def tail(self, n=80):
        with self.lock:
            return "\n".join(self.lines[-n:])


TRANSCRIPT = Transcript()


# ---------------------------------------------------------------------------------------------
# Response parsing.


class ProtocolError(AssertionError):
    """The server sent something that is not valid RFC 3501 syntax."""


class Atom(str):
    """An IMAP atom (or number). Strings (quoted or literal) are bytes; NIL is None."""


_LITERAL_END = re.compile(rb"\{(\d+)\}\r\n$")
_STATUS = ("OK", "NO", "BAD", "BYE", "PREAUTH")


def tokenize(data, strict=True):
    """Parses IMAP data items (everything after "* " or "* n ") into nested Python values:
    lists, Atom (str), bytes (quoted string or literal) and None (NIL). Atoms may carry
    "[...]" section text (BODY[HEADER.FIELDS (A B)]<0>). With strict, 8-bit or control
    characters in quoted strings, missing or doubled spaces raise ProtocolError."""
    stack = [[]]
    i = 0
    n = len(data)
    need_sep = False
    after_open = False
    last_was_list = False

    def fail(msg):
        raise ProtocolError(f"{msg} at offset {i} in {data[:300]!r}")

    while i < n:
        c = data[i]
        if c == 0x0D or c == 0x0A:
            if data[i:] not in (b"\r\n",) and strict:
                fail("garbage after CRLF")
            break
        if c == 0x20:
            if strict and (not need_sep or after_open):
                fail("unexpected space")
            need_sep = False
            last_was_list = False
            i += 1
            continue
        if c == 0x29:  # )
            if len(stack) == 1:
                fail("unbalanced ')'")
            lst = stack.pop()
            stack[-1].append(lst)
            need_sep = True
            after_open = False
            last_was_list = True
            i += 1
            continue
        if need_sep and strict and not (c == 0x28 and last_was_list):
            # body-type-mpart = 1*body SP media-subtype: bodies are adjacent lists.
            fail("missing space")
        after_open = False
        last_was_list = False
        if c == 0x28:  # (
            stack.append([])
            need_sep = False
            after_open = True
            i += 1
            continue
        if c == 0x22:  # "
            j = i + 1
            out = bytearray()
            while True:
                if j >= n:
                    fail("unterminated quoted string")
                b = data[j]
                if b == 0x22:
                    break
                if b == 0x5C:
                    j += 1
                    if j >= n or data[j] not in (0x22, 0x5C):
                        fail("bad escape in quoted string")
                    b = data[j]
                elif strict and (b in (0x00, 0x0A, 0x0D) or b >= 0x80):
                    # QUOTED-CHAR is a 7-bit TEXT-CHAR: no NUL, CR, LF or 8-bit bytes.
                    fail(f"NUL, CR, LF or 8-bit byte 0x{b:02x} in a quoted string")
                out.append(b)
                j += 1
            stack[-1].append(bytes(out))
            i = j + 1
            need_sep = True
            continue
        if c == 0x7B:  # {
            m = re.match(rb"\{(\d+)\}\r\n", data[i:])
            if not m:
                fail("bad literal")
            size = int(m.group(1))
            start = i + m.end()
            if start + size > n:
                fail("truncated literal")
            stack[-1].append(data[start : start + size])
            i = start + size
            need_sep = True
            continue
        # atom (possibly with [section] and <partial>)
        j = i
        while j < n:
            b = data[j]
            if b == 0x5B:  # [
                depth = 0
                while j < n:
                    if data[j] == 0x5B:
                        depth += 1
                    elif data[j] == 0x5D:
                        depth -= 1
                        if depth == 0:
                            break
                    j += 1
                if j >= n:
                    fail("unterminated '['")
                j += 1
                continue
            if b in b' ()"{\r\n' or b < 0x20 or b >= 0x7F:
                break
            j += 1
        if j == i:
            fail(f"unexpected byte {bytes([c])!r}")
        word = data[i:j].decode("ascii")
        stack[-1].append(None if word.upper() == "NIL" else Atom(word))
        i = j
        need_sep = True
    if len(stack) != 1:
        raise ProtocolError(f"unbalanced '(' in {data[:300]!r}")
    return stack[0]


class Response:
    """One server response (with its literals). tag is "*", "+" or the command tag."""

    def __init__(self, raw):
        self.raw = raw
        self.status = None  # OK NO BAD BYE PREAUTH
        self.code = None  # the response code text, without brackets
        self.text = ""
        self.kind = None  # untagged data: EXISTS FETCH LIST ... (or the status)
        self.num = None
        self.data = []
        line = raw[:-2] if raw.endswith(b"\r\n") else raw
        sp = line.find(b" ")
        self.tag = (line if sp < 0 else line[:sp]).decode("latin-1")
        rest = b"" if sp < 0 else line[sp + 1 :]
        if self.tag == "+":
            self.text = rest.decode("latin-1")
            return
        word = rest.split(b" ", 1)[0].upper().decode("latin-1")
        if word in _STATUS:
            self.status = self.kind = word
            text = rest[len(word) :].lstrip(b" ")
            if text.startswith(b"["):
                end = text.find(b"]")
                if end < 0:
                    raise ProtocolError(f"unterminated response code: {raw!r}")
                self.code = text[1:end].decode("latin-1")
                text = text[end + 1 :].lstrip(b" ")
            self.text = text.decode("latin-1")
            return
        if self.tag != "*":
            raise ProtocolError(f"tagged response without OK/NO/BAD: {raw!r}")
        tokens = tokenize(rest + b"\r\n")
        if tokens and isinstance(tokens[0], Atom) and tokens[0].isdigit():
            self.num = int(tokens[0])
            if len(tokens) < 2 or not isinstance(tokens[1], Atom):
                raise ProtocolError(f"bad numeric response: {raw!r}")
            self.kind = tokens[1].upper()
            self.data = tokens[2:]
        elif tokens and isinstance(tokens[0], Atom):
            self.kind = tokens[0].upper()
            self.data = tokens[1:]
        else:
            raise ProtocolError(f"unparsable untagged response: {raw!r}")

    def code_name(self):
        return self.code.split(" ", 1)[0].upper() if self.code else None

    def code_args(self):
        return self.code.split(" ", 1)[1] if self.code and " " in self.code else ""

    def fetch(self):
        """The FETCH attributes as a dict with upper-case names."""
        if self.kind != "FETCH" or len(self.data) != 1 or not isinstance(self.data[0], list):
            raise ProtocolError(f"bad FETCH response: {self.raw[:300]!r}")
        items = self.data[0]
        if len(items) % 2:
            raise ProtocolError(f"odd FETCH attribute list: {self.raw[:300]!r}")
        out = {}
        for k in range(0, len(items), 2):
            if not isinstance(items[k], Atom):
                raise ProtocolError(f"FETCH attribute name is not an atom: {self.raw[:300]!r}")
            out[items[k].upper()] = items[k + 1]
        return out

    def __repr__(self):
        return f"Response({self.raw[:200]!r})"


def split_responses(stream):
    """Splits a byte stream of complete responses into Response objects."""
    return [Response(chunk) for chunk in split_responses_plain(stream)]


def parse_status_items(tokens):
    """["MESSAGES", "3", ...] -> {"MESSAGES": "3", ...}"""
    return {tokens[k].upper(): tokens[k + 1] for k in range(0, len(tokens), 2)}


# ---------------------------------------------------------------------------------------------
# Raw socket client.


class Literal:
    def __init__(self, data, plus=False):
        self.data = data if isinstance(data, bytes) else data.encode()
        self.plus = plus


class RawClient:
    _count = 0

    def __init__(self, port=None, tls=False, label=None, timeout=TIMEOUT):
        RawClient._count += 1
        self.label = label or f"raw{RawClient._count}"
        self.sock = socket.create_connection((HOST, port or (IMAPS_PORT if tls else IMAP_PORT)),
                                             timeout)
        if tls:
            self.sock = tls_context().wrap_socket(self.sock, server_hostname=HOST)
        self.buf = bytearray()
        self.tagn = 0
        self.greeting = self.read_response()

    # -- low level
    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        TRANSCRIPT.add(self.label, "C:", data)
        self.sock.sendall(data)

    def _fill(self, timeout=None):
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            chunk = self.sock.recv(65536)
        finally:
            if timeout is not None:
                self.sock.settimeout(TIMEOUT)
        if not chunk:
            raise EOFError("server closed the connection")
        self.buf += chunk

    def read_response(self, timeout=None):
        """Reads one complete response, literals included. socket.timeout if none arrives."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pos = 0
        while True:
            j = self.buf.find(b"\r\n", pos)
            if j < 0:
                self._fill(None if deadline is None else max(0.01, deadline - time.monotonic()))
                continue
            m = _LITERAL_END.search(bytes(self.buf[pos : j + 2]))
            if m:
                need = j + 2 + int(m.group(1))
                while len(self.buf) < need:
                    self._fill(None if deadline is None else max(0.01, deadline - time.monotonic()))
                pos = need
                continue
            raw = bytes(self.buf[: j + 2])
            del self.buf[: j + 2]
            TRANSCRIPT.add(self.label, "S:", raw)
            return Response(raw)

    def next_tag(self):
        self.tagn += 1
        return f"{self.label.replace('-', '')}t{self.tagn}"

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- commands
    def command(self, *parts, tag=None):
        """Sends a command made of str/bytes pieces and Literal objects, waits for its
        tagged response. Returns the tagged Response with .untagged (list of Response) and
        .continuations (number of "+" received)."""
        tag = tag or self.next_tag()
        untagged = []
        conts = 0
        pending = tag.encode() + b" "
        for p in parts:
            if isinstance(p, Literal):
                pending += b"{%d%s}\r\n" % (len(p.data), b"+" if p.plus else b"")
                if not p.plus:
                    self.send(pending)
                    pending = b""
                    while True:
                        r = self.read_response()
                        if r.tag == "+":
                            conts += 1
                            break
                        if r.tag == tag:  # refused before the literal
                            r.untagged = untagged
                            r.continuations = conts
                            return r
                        untagged.append(r)
                pending += p.data
            else:
                pending += p.encode() if isinstance(p, str) else p
        self.send(pending + b"\r\n")
        while True:
            r = self.read_response()
            if r.tag == tag:
                r.untagged = untagged
                r.continuations = conts
                return r
            if r.tag == "+":
                conts += 1
                continue
            untagged.append(r)

    def ok(self, *parts, **kw):
        r = self.command(*parts, **kw)
        if r.status != "OK":
            raise AssertionError(f"expected OK for {parts!r}, got {r.raw!r}")
        return r

    def login(self, user, password):
        return self.ok("LOGIN ", quote(user), " ", quote(password))

    def drain(self, quiet=0.3):
        """Reads whatever untagged responses arrive until the line is quiet."""
        out = []
        while True:
            try:
                out.append(self.read_response(timeout=quiet))
            except (socket.timeout, TimeoutError):
                return out


def quote(s):
    if isinstance(s, bytes):
        s = s.decode()
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------------------------------------
# imaplib with a transcript.


class _Recording:
    label = "imaplib"

    def _start_capture(self):
        self.capture = bytearray()

    def _command(self, name, *args):
        self._start_capture()
        return super()._command(name, *args)

    def send(self, data):
        TRANSCRIPT.add(self.label, "C:", data)
        return super().send(data)

    def readline(self):
        line = super().readline()
        TRANSCRIPT.add(self.label, "S:", line)
        if hasattr(self, "capture"):
            self.capture += line
        return line

    def read(self, size):
        data = super().read(size)
        TRANSCRIPT.add(self.label, "S:", data)
        if hasattr(self, "capture"):
            self.capture += data
        return data

    def last_responses(self):
        """Every response the server sent since the last command was issued."""
        return split_responses(bytes(self.capture))

    def last_tagged(self):
        return self.last_responses()[-1]


class TIMAP4(_Recording, imaplib.IMAP4):
    def __init__(self, label="imap", port=None):
        self.label = label
        self.capture = bytearray()
        imaplib.IMAP4.__init__(self, HOST, port or IMAP_PORT, timeout=TIMEOUT)


class TIMAP4_SSL(_Recording, imaplib.IMAP4_SSL):
    def __init__(self, label="imaps", port=None):
        self.label = label
        self.capture = bytearray()
        imaplib.IMAP4_SSL.__init__(self, HOST, port or IMAPS_PORT, ssl_context=tls_context(),
                                   timeout=TIMEOUT)


def split_responses_plain(stream):
    """Like split_responses but returns the raw byte chunks."""
    out = []
    i = 0
    while i < len(stream):
        start = i
        while True:
            j = stream.find(b"\r\n", i)
            if j < 0:
                raise ProtocolError(f"incomplete response: {stream[start:start + 200]!r}")
            m = _LITERAL_END.search(stream[i : j + 2])
            if m:
                i = j + 2 + int(m.group(1))
                continue
            i = j + 2
            break
        out.append(stream[start:i])
    return out


# ---------------------------------------------------------------------------------------------
# Sequence/UID helpers.


def seqset_numbers(text):
    """'1:3,7' -> [1,2,3,7] (no '*')."""
    out = []
    for piece in text.split(","):
        if ":" in piece:
            a, b = (int(x) for x in piece.split(":"))
            out.extend(range(min(a, b), max(a, b) + 1))
        else:
            out.append(int(piece))
    return out


# ---------------------------------------------------------------------------------------------
# MIME messages with known structure.


def crlf(data):
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


def _ctype(headers):
    for k, v in headers:
        if k.lower() == "content-type":
            return v
    return None


def _header(headers, name):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return None


def parse_ctype(value):
    """'multipart/mixed; boundary="x"; a=b' -> ('MULTIPART', 'MIXED', {'BOUNDARY': 'x', ...})"""
    if value is None:
        return "TEXT", "PLAIN", {"CHARSET": "us-ascii"}
    parts = [p.strip() for p in re.split(r';(?=(?:[^"]*"[^"]*")*[^"]*$)', value)]
    t, _, st = parts[0].partition("/")
    params = {}
    for p in parts[1:]:
        if not p:
            continue
        k, _, v = p.partition("=")
        v = v.strip()
        if v.startswith('"') and v.endswith('"'):
            v = v[1:-1]
        params[k.strip().upper()] = v
    return t.strip().upper(), st.strip().upper(), params


class Params(dict):
    """Expected body parameters (compared case-insensitively)."""


class Part:
    """A MIME entity: headers (list of (name, value)), and either a leaf body, sub-parts
    (multipart), or an encapsulated message (message/rfc822)."""

    def __init__(self, headers, body=None, parts=None, message=None, preamble=b"",
                 epilogue=b"", default_type=None):
        self.default_type = default_type  # e.g. "message/rfc822" inside multipart/digest
        self.headers = headers
        self.body = body
        self.parts = parts
        self.message = message
        self.preamble = preamble
        self.epilogue = epilogue

    def header_bytes(self):
        return b"".join(f"{k}: {v}\r\n".encode("utf-8") for k, v in self.headers) + b"\r\n"

    def ctype(self):
        value = _ctype(self.headers)
        if value is None and self.default_type:
            value = self.default_type
        return parse_ctype(value)

    def body_bytes(self):
        if self.parts is not None:
            boundary = self.ctype()[2]["BOUNDARY"].encode()
            out = self.preamble
            for i, p in enumerate(self.parts):
                out += (b"--" if i == 0 and not self.preamble else b"\r\n--") + boundary + b"\r\n"
                out += p.bytes()
            out += b"\r\n--" + boundary + b"--\r\n" + self.epilogue
            return out
        if self.message is not None:
            return self.message.bytes()
        return self.body

    def bytes(self):
        return self.header_bytes() + self.body_bytes()

    # RFC 3501 6.4.5 part numbering.
    def node(self, path):
        """The entity BODY[path] designates (path like "2.1")."""
        node = self
        for k in (int(x) for x in path.split(".")):
            if node.message is not None and node is not self:
                node = node.message
            if node.parts is not None:
                node = node.parts[k - 1]
            else:
                if k != 1:
                    raise KeyError(path)
        return node


def expected_bodystructure(part, envelopes, extensible=False):
    """The non-extension fields of BODY/BODYSTRUCTURE for a Part, as comparable Python
    values (str compared case-insensitively, int, None, dict for parameter lists).
    envelopes maps id(Part) of an encapsulated message to its expected envelope."""
    t, st, params = part.ctype()
    if part.parts is not None:
        return {"multipart": [expected_bodystructure(p, envelopes, extensible)
                              for p in part.parts], "subtype": st}
    body = part.body_bytes()
    enc = (_header(part.headers, "Content-Transfer-Encoding") or "7BIT").upper()
    fields = [t, st, Params(params), _header(part.headers, "Content-ID"),
              _header(part.headers, "Content-Description"), enc, len(body)]
    if t == "MESSAGE" and st == "RFC822":
        fields += [envelopes[id(part.message)],
                   expected_bodystructure(part.message, envelopes, extensible),
                   body.count(b"\n")]
    elif t == "TEXT":
        fields.append(body.count(b"\n"))
    return fields


def compare_bodystructure(expected, actual, extensible, path="BODY"):
    """Returns a list of human-readable mismatches."""
    problems = []
    if isinstance(expected, dict) and "multipart" in expected:
        if not isinstance(actual, list) or not actual or not isinstance(actual[0], list):
            return [f"{path}: expected a multipart body, got {actual!r}"]
        children = []
        k = 0
        while k < len(actual) and isinstance(actual[k], list):
            children.append(actual[k])
            k += 1
        if len(children) != len(expected["multipart"]):
            problems.append(f"{path}: {len(children)} parts, expected {len(expected['multipart'])}")
        for n, (e, a) in enumerate(zip(expected["multipart"], children), 1):
            problems += compare_bodystructure(e, a, extensible, f"{path}.{n}")
        if k >= len(actual) or not isinstance(actual[k], (bytes,)) or \
                actual[k].decode().upper() != expected["subtype"]:
            problems.append(f"{path}: subtype {actual[k] if k < len(actual) else None!r}, "
                            f"expected {expected['subtype']!r}")
        ext = actual[k + 1 :]
        if not extensible and ext:
            problems.append(f"{path}: BODY must not carry extension data: {ext!r}")
        if extensible and ext:
            # body-ext-mpart = body-fld-param [SP body-fld-dsp ...]
            if ext[0] is not None and not isinstance(ext[0], list):
                problems.append(f"{path}: bad multipart parameter list {ext[0]!r}")
        return problems
    if not isinstance(actual, list):
        return [f"{path}: expected a body list, got {actual!r}"]
    base = len(expected)
    if len(actual) < base:
        return [f"{path}: {len(actual)} fields, expected at least {base}: {actual!r}"]
    if not extensible and len(actual) != base:
        problems.append(f"{path}: BODY has {len(actual)} fields, expected exactly {base} "
                        f"(no extension data): {actual!r}")
    names = ["type", "subtype", "params", "id", "description", "encoding", "size"]
    for n, (e, a) in enumerate(zip(expected, actual)):
        name = names[n] if n < len(names) else f"field{n}"
        if len(expected) == 10 and n >= 7:
            name = ["envelope", "body", "lines"][n - 7]
        elif n == 7:
            name = "lines"
        where = f"{path} {name}"
        if isinstance(e, Params):
            if a is None:
                got = {}
            elif isinstance(a, list) and len(a) % 2 == 0:
                got = {a[i].decode().upper(): a[i + 1].decode() for i in range(0, len(a), 2)}
            else:
                problems.append(f"{where}: bad parameter list {a!r}")
                continue
            want = {k: v for k, v in e.items()}
            if {k: v.lower() for k, v in got.items()} != {k: v.lower() for k, v in want.items()}:
                problems.append(f"{where}: {got!r}, expected {want!r}")
        elif isinstance(e, int):
            if not isinstance(a, Atom) or not a.isdigit() or int(a) != e:
                problems.append(f"{where}: {a!r}, expected {e}")
        elif e is None:
            if a is not None:
                problems.append(f"{where}: {a!r}, expected NIL")
        elif isinstance(e, str):
            if not isinstance(a, bytes) or a.decode("latin-1").upper() != e.upper():
                problems.append(f"{where}: {a!r}, expected {e!r}")
        elif isinstance(e, list) and name == "envelope":
            problems += compare_envelope(e, a, where)
        else:  # nested body of message/rfc822
            problems += compare_bodystructure(e, a, extensible, f"{path}(rfc822)")
    return problems


def compare_envelope(expected, actual, path="ENVELOPE"):
    """expected: [date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to,
    message-id] with bytes/None for strings and lists of 4-tuples for addresses."""
    if not isinstance(actual, list) or len(actual) != 10:
        return [f"{path}: expected 10 fields, got {actual!r}"]
    names = ["date", "subject", "from", "sender", "reply-to", "to", "cc", "bcc",
             "in-reply-to", "message-id"]
    problems = []
    for name, e, a in zip(names, expected, actual):
        if isinstance(e, list):
            got = a
            if isinstance(a, list):
                got = [tuple(x) if isinstance(x, list) else x for x in a]
            want = [tuple(x) for x in e]
            # Address names/hosts: compare host case-insensitively.
            def norm(lst):
                if not isinstance(lst, list):
                    return lst
                return [tuple((v.lower() if (i == 3 and isinstance(v, bytes)) else v)
                              for i, v in enumerate(t)) if isinstance(t, tuple) else t
                        for t in lst]
            if norm(got) != norm(want):
                problems.append(f"{path} {name}: {a!r}, expected {e!r}")
        elif a != e:
            problems.append(f"{path} {name}: {a!r}, expected {e!r}")
    return problems


# ---------------------------------------------------------------------------------------------
# Test base class and a result that prints the transcript of failed tests.


class IMAPTestCase(common.TranscriptTestCase):
    def setUp(self):  # this module's own transcript
        TRANSCRIPT.reset(self.id())
        self._closers = []

    # -- clients
    def shared(self):
        """An imaplib session of the class's user kept across the class's tests (logins
        are deliberately slow), reconnected when a previous test broke it."""
        cls = type(self)
        m = cls.__dict__.get("_shared_conn")
        if m is not None:
            try:
                if m.state not in ("AUTH", "SELECTED"):
                    raise imaplib.IMAP4.abort("not logged in")
                m._simple_command("CAPABILITY")
                return m
            except (imaplib.IMAP4.error, OSError, ProtocolError):
                try:
                    m.shutdown()
                except OSError:
                    pass
        m = TIMAP4(label="shared")
        m.login(*cls.user)
        cls._shared_conn = m
        return m

    @classmethod
    def tearDownClass(cls):
        raw = cls.__dict__.get("_raw_conn")
        if raw is not None:
            raw.close()
            cls._raw_conn = None
        m = cls.__dict__.get("_shared_conn")
        if m is not None:
            try:
                m.logout()
            except Exception:
                pass
            cls._shared_conn = None
        super().tearDownClass()

    def imap(self, user=None, label="imap", tls=False, login=True):
        c = TIMAP4_SSL(label=label) if tls else TIMAP4(label=label)
        self._closers.append(lambda: c.shutdown())
        if login:
            u = user or self.user
            c.login(u[0], u[1])
        return c

    def raw(self, user=None, label=None, tls=False, login=True):
        c = RawClient(tls=tls, label=label)
        self._closers.append(c.close)
        if login:
            u = user or self.user
            c.login(u[0], u[1])
        return c

    # -- assertions
    def assertAlive(self, client, msg="the connection stays usable"):
        self.assertStatus(client.command("CAPABILITY"), "OK", msg=msg)

    def assertStatus(self, resp, status, code=None, msg=None):
        what = f"expected {status}{' [' + code + ']' if code else ''}, got {resp.raw!r}"
        self.assertEqual(resp.status, status, msg or what)
        if code is not None:
            self.assertEqual(resp.code_name(), code.upper(), msg or what)

    def assertOK(self, typ_data, msg=None):
        typ, data = typ_data
        self.assertEqual(typ, "OK", msg or f"expected OK, got {typ} {data!r}")
        return data


class TranscriptResult(common.TranscriptResult):
    def _dump(self):
        self.stream.write("\n----- server exchange (last lines) -----\n")
        self.stream.write(TRANSCRIPT.tail(60) + "\n")
        self.stream.write("----------------------------------------\n")
        self.stream.flush()


def main():
    common.main(TranscriptResult, quiet_warnings=False)
