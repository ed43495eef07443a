"""EIP-4361 (Sign-In with Ethereum) messages: build, parse, verify. Small on purpose.

The PyPI ``siwe`` package does not import here (abnf 2.9) and pins web3<8, so the message
format is implemented from the EIP's ABNF: the lines are fixed and in a fixed order, which a
line-by-line parser checks exactly. The signature is an EIP-191 ``personal_sign`` of the
message text, recovered with eth-account (EOAs only; ERC-1271 contract wallets are not
supported).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_checksum_address

HEADER = " wants you to sign in with your Ethereum account:"
_NONCE = re.compile(r"^[A-Za-z0-9]{8,}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_SCHEME_DOMAIN = re.compile(r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://)?(?P<domain>[^\s/]+)$")


class SiweError(ValueError):
    """The text is not a well-formed EIP-4361 message (``code`` names what is wrong)."""

    def __init__(self, message: str, code: str = "malformed_message") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SiweMessage:
    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: str
    statement: str | None = None
    version: str = "1"
    scheme: str | None = None
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: tuple[str, ...] = field(default_factory=tuple)

    def text(self) -> str:
        """The message exactly as EIP-4361 lays it out (LF line ends, no trailing LF)."""
        prefix = f"{self.scheme}://{self.domain}" if self.scheme else self.domain
        lines = [prefix + HEADER, self.address, ""]
        if self.statement is not None:
            lines += [self.statement, ""]
        else:
            lines += [""]
        lines += [
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {self.issued_at}",
        ]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {self.expiration_time}")
        if self.not_before is not None:
            lines.append(f"Not Before: {self.not_before}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {resource}" for resource in self.resources]
        return "\n".join(lines)


def rfc3339(moment: dt.datetime) -> str:
    """UTC, whole seconds, ``Z``: the form the EIP's examples use."""
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_time(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SiweError(f"{value!r} is not an RFC 3339 date-time.") from exc
    if moment.tzinfo is None:
        raise SiweError(f"{value!r} has no time zone.")
    return moment


def _take(lines: list[str], index: int, label: str) -> str:
    if index >= len(lines) or not lines[index].startswith(label):
        raise SiweError(f"Line {index + 1} must start with {label!r}.")
    return lines[index][len(label) :]


def siwe_parse(text: str) -> SiweMessage:
    """Parse and check the layout; raise :class:`SiweError` on any deviation."""
    if "\r" in text:
        raise SiweError("Line ends must be LF.")
    lines = text.split("\n")
    if not lines[0].endswith(HEADER):
        raise SiweError("The first line must end with" + HEADER)
    match = _SCHEME_DOMAIN.match(lines[0][: -len(HEADER)])
    if not match:
        raise SiweError("The first line must start with the domain.")
    if len(lines) < 9:
        raise SiweError("The message is too short.")
    address = lines[1]
    if not _ADDRESS.match(address):
        raise SiweError("The second line must be a 0x address.")
    if lines[2] != "":
        raise SiweError("The address must be followed by an empty line.")
    i = 3
    statement = None
    if lines[3] != "":
        statement = lines[3]
        if lines[4] != "":
            raise SiweError("The statement must be followed by an empty line.")
        i = 5
    else:
        i = 4
    uri = _take(lines, i, "URI: ")
    version = _take(lines, i + 1, "Version: ")
    if version != "1":
        raise SiweError("Only version 1 exists.", code="unsupported_version")
    chain_id = _take(lines, i + 2, "Chain ID: ")
    if not chain_id.isdigit():
        raise SiweError("The chain id must be digits.")
    nonce = _take(lines, i + 3, "Nonce: ")
    if not _NONCE.match(nonce):
        raise SiweError("The nonce must be at least 8 letters or digits.")
    issued_at = _take(lines, i + 4, "Issued At: ")
    parse_time(issued_at)
    rest = lines[i + 5 :]
    optional: dict[str, str | None] = {"Expiration Time: ": None, "Not Before: ": None, "Request ID: ": None}
    resources: list[str] = []
    for label in optional:
        if rest and rest[0].startswith(label):
            optional[label] = rest.pop(0)[len(label) :]
    for label in ("Expiration Time: ", "Not Before: "):
        if optional[label] is not None:
            parse_time(optional[label])
    if rest:
        if rest[0] != "Resources:":
            raise SiweError(f"Unexpected line {rest[0]!r}.")
        for line in rest[1:]:
            if not line.startswith("- "):
                raise SiweError(f"A resource line must start with '- ': {line!r}.")
            resources.append(line[2:])
    return SiweMessage(
        scheme=match.group("scheme"),
        domain=match.group("domain"),
        address=address,
        statement=statement,
        uri=uri,
        version=version,
        chain_id=int(chain_id),
        nonce=nonce,
        issued_at=issued_at,
        expiration_time=optional["Expiration Time: "],
        not_before=optional["Not Before: "],
        request_id=optional["Request ID: "],
        resources=tuple(resources),
    )


# Order of the secp256k1 group. A signature (r, s) has a twin (r, n - s) that recovers the same
# key; like Ethereum since EIP-2, only the low one (s <= n / 2) is canonical.
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def signature_canonical(signature: str) -> bytes:
    """The 65 bytes of ``signature`` (0x hex) when it is canonical: ``v`` in {27, 28} or {0, 1}
    (wallets write either), ``r`` and ``s`` in range and ``s`` in the lower half of the order.

    eth-account recovers from any ``v`` byte (it reduces it) and from either ``s``, so without
    this check one signature has many accepted spellings."""
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
    except (AttributeError, ValueError) as exc:
        raise SiweError("The signature must be 0x and 130 hex digits.", code="bad_signature") from exc
    if len(raw) != 65:
        raise SiweError("The signature must be 65 bytes.", code="bad_signature")
    r, s, v = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:64], "big"), raw[64]
    if v not in (0, 1, 27, 28) or not 0 < r < SECP256K1_N or not 0 < s <= SECP256K1_N // 2:
        raise SiweError(
            "The signature is not in canonical form (v 27/28 or 0/1, low s).", code="non_canonical_signature"
        )
    return raw


def siwe_recover(text: str, signature: str) -> str:
    """The checksum address whose key made this ``personal_sign`` signature of ``text``; the
    signature must be canonical (:func:`signature_canonical`)."""
    raw = signature_canonical(signature)
    try:
        return Account.recover_message(encode_defunct(text=text), signature=raw)
    except Exception as exc:  # malformed hex, wrong length, invalid v/r/s
        raise SiweError("The signature is not a valid Ethereum signature.", code="bad_signature") from exc


def siwe_verify(text: str, signature: str, *, domain: str, chain_id: int, now: dt.datetime) -> SiweMessage:
    """Parse ``text``, check it is for us and in time, and that ``signature`` is by its address."""
    message = siwe_parse(text)
    if message.domain != domain:
        raise SiweError(f"The message is for {message.domain}, not {domain}.", code="wrong_domain")
    if message.chain_id != chain_id:
        raise SiweError(f"The message is for chain {message.chain_id}, not {chain_id}.", code="wrong_chain")
    if not is_checksum_address(message.address):
        raise SiweError("The address must be in EIP-55 checksum form.", code="bad_address")
    if message.expiration_time is not None and now >= parse_time(message.expiration_time):
        raise SiweError("The message has expired.", code="expired")
    if message.not_before is not None and now < parse_time(message.not_before):
        raise SiweError("The message is not valid yet.", code="not_yet_valid")
    if siwe_recover(text, signature) != message.address:
        raise SiweError("The signature was not made by the message's address.", code="wrong_signer")
    return message
