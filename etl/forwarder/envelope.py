"""The Ministry envelope (spec/EXCHANGE.md §4): PascalCase ``Root{Header, Body}`` under the Ministry key.

JSON is the default serialisation, the payload keeping its wire keys as received.  XML is the simple
alternative some Ministry test environments ask for: PascalCase elements, lists as repeated elements.
Both directions live here so the forwarder and the Ministry simulator agree on one format.
"""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from typing import Any, Literal

from core.beijing import wire_datetime
from etl.schemas import IPC_TYPES

__all__ = [
    "HEADER_FIELDS",
    "LIST_KEYS",
    "NUMBER_KEYS",
    "Serialisation",
    "build_envelope",
    "decode_payload",
    "encode_payload",
    "envelope_from_wire",
    "envelope_to_wire",
    "ministry_document_name",
]

Serialisation = Literal["json", "xml"]

HEADER_FIELDS = (
    "MessageReferenceNumber", "DocumentName", "DocumentVersionNumber", "SenderCode",
    "MessageSendingDateTime", "IPCType", "Token",
)
#: Payload keys that hold arrays (spec §2); XML repeats their element, so decoding needs to know them.
LIST_KEYS = frozenset({
    "vehicleInfo", "driver", "goodsInfo", "shippingNoteList", "financiallist", "shippingNoteInfos",
    "locations",
})
#: Position fields the schema wants as JSON numbers; XML text is turned back into numbers for them.
NUMBER_KEYS = frozenset({"longitude", "latitude", "speed", "direction", "altitude", "accuracy"})


def ministry_document_name(ipc_type: str) -> str:
    """``DocumentName`` the Ministry expects for `ipc_type` (电子运单, 资金流水单, 车辆信息单, …)."""
    return IPC_TYPES[ipc_type].ministry_document_name


def encode_payload(payload: dict[str, Any], serialisation: Serialisation = "json") -> bytes:
    """The plaintext that goes inside ``EncryptedContent``: UTF-8 JSON, or XML with PascalCase elements.

    Examples
    --------
    >>> encode_payload({"vehicleNumber": "皖A12345", "driver": [{"driverName": "张三"}]}, "xml").decode()
    '<Root><VehicleNumber>皖A12345</VehicleNumber><Driver><DriverName>张三</DriverName></Driver></Root>'
    """
    if serialisation == "json":
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if serialisation == "xml":
        root = ET.Element("Root")
        _fill(root, payload)
        return ET.tostring(root, encoding="unicode").encode("utf-8")
    raise ValueError(f"serialisation must be 'json' or 'xml', got {serialisation!r}")


def decode_payload(data: bytes, serialisation: Serialisation = "json") -> dict[str, Any]:
    """Inverse of :func:`encode_payload`.

    XML leaves come back as strings, except the position numbers of :data:`NUMBER_KEYS`; empty lists and
    null fields do not survive XML (they come back absent).

    Raises
    ------
    ValueError
        If `data` is not well-formed JSON/XML or not an object.
    """
    if serialisation == "json":
        obj = json.loads(data.decode("utf-8-sig"))
        if not isinstance(obj, dict):
            raise ValueError("payload is not a JSON object")
        return obj
    try:
        root = ET.fromstring(data.decode("utf-8-sig"))
    except ET.ParseError as exc:
        raise ValueError(f"payload is not well-formed XML: {exc}") from None
    return _read(root)


def build_envelope(
    payload: dict[str, Any],
    *,
    ipc_type: str,
    reference_number: str,
    sender_code: str,
    public_key_hex: str,
    serialisation: Serialisation = "json",
    document_version_number: str = "2.0",
    sent_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Seal `payload` under the Ministry's public key and wrap it in the Ministry envelope.

    ``Token`` is left empty: the client fills it in just before each POST (it may log in again).

    Returns
    -------
    dict
        ``{"Root": {"Header": {...}, "Body": {"EncryptedCode": ..., "EncryptedContent": ...}}}``.
    """
    from etl.exchange import crypto  # imported late: the forwarder's pure parts do not need the SM stack

    code, content = crypto.seal(encode_payload(payload, serialisation), public_key_hex)
    header = {
        "MessageReferenceNumber": reference_number,
        "DocumentName": ministry_document_name(ipc_type),
        "DocumentVersionNumber": document_version_number,
        "SenderCode": sender_code,
        "MessageSendingDateTime": wire_datetime(sent_at or dt.datetime.now(dt.timezone.utc)),
        "IPCType": ipc_type,
        "Token": "",
    }
    return {"Root": {"Header": header, "Body": {"EncryptedCode": code, "EncryptedContent": content}}}


def envelope_to_wire(envelope: dict[str, Any], serialisation: Serialisation = "json") -> tuple[bytes, str]:
    """The HTTP body and its content type for `envelope`."""
    if serialisation == "json":
        return json.dumps(envelope, ensure_ascii=False).encode("utf-8"), "application/json"
    root = ET.Element("Root")
    for part in ("Header", "Body"):
        node = ET.SubElement(root, part)
        for key, value in envelope["Root"][part].items():
            ET.SubElement(node, key).text = "" if value is None else str(value)
    return ET.tostring(root, encoding="unicode").encode("utf-8"), "application/xml"


def envelope_from_wire(body: bytes, content_type: str = "application/json") -> dict[str, Any]:
    """Parse an envelope POSTed as JSON or XML (chosen by `content_type`).

    Raises
    ------
    ValueError
        If the body cannot be parsed or has no ``Root.Header`` / ``Root.Body`` objects.
    """
    if "xml" in (content_type or ""):
        try:
            root = ET.fromstring(body.decode("utf-8-sig"))
        except (ET.ParseError, UnicodeDecodeError) as exc:
            raise ValueError(f"envelope is not well-formed XML: {exc}") from None
        obj = {"Root": {child.tag: {leaf.tag: leaf.text or "" for leaf in child} for child in root}}
    else:
        try:
            obj = json.loads(body.decode("utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"envelope is not valid JSON: {exc}") from None
    root_obj = obj.get("Root") if isinstance(obj, dict) else None
    if not isinstance(root_obj, dict) or not isinstance(root_obj.get("Header"), dict) \
            or not isinstance(root_obj.get("Body"), dict):
        raise ValueError("envelope needs Root.Header and Root.Body objects")
    return obj


def _pascal(key: str) -> str:
    return key[:1].upper() + key[1:]


def _camel(tag: str) -> str:
    return tag[:1].lower() + tag[1:]


def _fill(node: ET.Element, obj: dict[str, Any]) -> None:
    for key, value in obj.items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item is None:
                continue  # XML has no null: an absent element is an absent optional field
            child = ET.SubElement(node, _pascal(key))
            if isinstance(item, dict):
                _fill(child, item)
            elif isinstance(item, bool):
                child.text = "true" if item else "false"
            else:
                child.text = str(item)


def _number(text: str) -> float | int | str:
    try:
        return int(text) if text.lstrip("-").isdigit() else float(text)
    except ValueError:
        return text  # let validation name the bad field


def _read(node: ET.Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in node:
        key = _camel(child.tag)
        value: Any = _read(child) if len(child) else (child.text or "")
        if key in NUMBER_KEYS and isinstance(value, str):
            value = _number(value)
        if key in LIST_KEYS:
            out.setdefault(key, []).append(value)
        else:
            out[key] = value
    return out
