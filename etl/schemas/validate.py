"""Validate a decrypted exchange payload by ipcType and report field errors in the spec's 3005 shape."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from core import safejson
from core.config import get_settings
from etl import codes
from etl.schemas._fields import FIELD_ERRORS
from etl.schemas.checksums import id_check_char, id_number_valid, usci_check_char, usci_valid
from etl.schemas.errors import RULES, FieldError, PayloadShapeError
from etl.schemas.payloads import FIELD_NAMES_ZH, Driver, FundFlow, PositionBatch, Vehicle, Waybill

__all__ = ["IPC_TYPES", "LIST_FIELDS", "IpcSpec", "ValidationResult", "lists_from_objects", "validate_payload"]

Kind = Literal["waybill", "fund_flow", "vehicle", "driver", "position"]


@dataclass(frozen=True)
class IpcSpec:
    """What an ipcType carries.

    Parameters
    ----------
    ipc_type : str
        Business interface code, e.g. ``"WLHY_YD1001"``.
    kind : {"waybill", "fund_flow", "vehicle", "driver", "position"}
    document_names : tuple of str
        ``documentName`` values accepted with this ipcType: the provincial (FJ-style) name of spec §1.2
        and the Ministry name of spec §4.
    ministry_document_name : str
        ``DocumentName`` used when forwarding to the Ministry.
    model : type[pydantic.BaseModel]
        The payload model.
    """

    ipc_type: str
    kind: Kind
    document_names: tuple[str, ...]
    ministry_document_name: str
    model: type[BaseModel]


IPC_TYPES: dict[str, IpcSpec] = {
    spec.ipc_type: spec
    for spec in (
        IpcSpec("WLHY_YD1001", "waybill", ("电子运单上传", "电子运单"), "电子运单", Waybill),
        IpcSpec("WLHY_ZJ1001", "fund_flow", ("资金流水单上传", "资金流水单"), "资金流水单", FundFlow),
        IpcSpec("WLHY_CL1001", "vehicle", ("车辆基本信息上传", "车辆信息单"), "车辆信息单", Vehicle),
        IpcSpec("WLHY_JSY1001", "driver", ("驾驶员基本信息上传", "驾驶员信息单"), "驾驶员信息单", Driver),
        IpcSpec("WLHY_WZ1001", "position", ("位置信息上传", "位置信息单"), "位置信息单", PositionBatch),
    )
}


@dataclass
class ValidationResult:
    """Outcome of :func:`validate_payload`.

    Attributes
    ----------
    model : pydantic.BaseModel or None
        The parsed payload; ``None`` when there are errors.
    errors : list of FieldError
        Failures that reject the document (result code 3005).
    warnings : list of FieldError
        Problems that do not reject it: ``checksum`` (USCI / ID number check fails, → QUAL_ID_CHECKSUM),
        ``code`` for a ``bankCode`` missing from the partial bank table, and ``shape`` for a list field sent as
        one object (accepted as a one-element list, :func:`lists_from_objects`).
    data : dict or None
        The decoded JSON object as received, list fields sent as one object made lists (what the version
        history keeps and the Ministry gets).
    """

    model: BaseModel | None
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[FieldError] = field(default_factory=list)
    data: dict | None = None

    @property
    def ok(self) -> bool:
        """True when the document is accepted (warnings allowed)."""
        return not self.errors and self.model is not None


def validate_payload(ipc_type: str, data: bytes | str | dict) -> ValidationResult:
    """Parse and check one decrypted payload.

    Parameters
    ----------
    ipc_type : str
        One of :data:`IPC_TYPES`.
    data : bytes, str or dict
        UTF-8 JSON text (a BOM is tolerated) or the already decoded JSON object.

    Returns
    -------
    ValidationResult
        ``ok`` is False when ``errors`` is not empty; field paths use the wire names,
        e.g. ``vehicleInfo[0].driver[0].drivingLicense``.

    Raises
    ------
    ValueError
        If `ipc_type` is unknown (spec result code 3002).
    PayloadShapeError
        If `data` is not JSON or not a JSON object (spec result code 3008).

    Examples
    --------
    >>> r = validate_payload("WLHY_JSY1001", '{"driverName": "张三"}')
    >>> r.ok, [(e.field, e.rule) for e in r.errors][:2]
    (False, [('drivingLicense', 'required'), ('qualificationCertificate', 'required')])
    """
    spec = IPC_TYPES.get(ipc_type)
    if spec is None:
        raise ValueError(f"unknown ipcType {ipc_type!r}; expected one of {', '.join(IPC_TYPES)}")
    obj, shape = lists_from_objects(spec.kind, _decode(data))
    try:
        model = spec.model.model_validate(obj)
    except ValidationError as exc:
        return ValidationResult(model=None, errors=list(_translate(exc)), warnings=shape, data=obj)
    return ValidationResult(model=model, warnings=shape + list(_warnings(spec.kind, model)), data=obj)


# ---- list fields sent as one object (the public Fujian client sends ``vehicleInfo: {…}``) ----------------------

#: The list fields of each payload (spec/EXCHANGE.md §2), as paths; ``*`` walks every item of a list.
LIST_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "waybill": (("vehicleInfo",), ("vehicleInfo", "*", "driver"), ("vehicleInfo", "*", "goodsInfo")),
    "fund_flow": (("shippingNoteList",), ("financiallist",)),
    "position": (("shippingNoteInfos",), ("locations",)),
}


def lists_from_objects(kind: str, obj: dict) -> tuple[dict, list[FieldError]]:
    """``obj`` with each list field that was sent as one object made a one-element list, and a ``shape`` warning
    per such field.  Existing clients do this; the normalised form is what is stored and forwarded (the archive
    keeps the ciphertext as sent).  ``obj`` itself is not changed: only the containers on a changed path are copied.

    >>> lists_from_objects("fund_flow", {"financiallist": {"sequenceCode": "1"}})[0]
    {'financiallist': [{'sequenceCode': '1'}]}
    """
    found: list[FieldError] = []

    def fix(node: Any, steps: tuple[str, ...], path: str) -> Any:
        name, rest = steps[0], steps[1:]
        if name == "*":
            if not isinstance(node, list):
                return node
            items = [fix(x, rest, f"{path}[{i}]") for i, x in enumerate(node)]
            return items if any(a is not b for a, b in zip(items, node, strict=True)) else node
        if not isinstance(node, dict) or name not in node:
            return node
        here = _join(path, name)
        value = node[name]
        if rest:
            new = fix(value, rest, here)
        elif isinstance(value, dict):
            new = [value]
            found.append(FieldError(here, "shape", f"{here} 应为数组，已按单元素数组接收 was sent as an object; "
                                                   "accepted as a one-element list (send a JSON array)"))
        else:
            new = value
        return node if new is value else {**node, name: new}

    for steps in LIST_FIELDS.get(kind, ()):
        obj = fix(obj, steps, "")
    return obj, found


def _decode(data: bytes | str | dict) -> dict:
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PayloadShapeError(f"payload is not UTF-8: {exc}") from None
    if isinstance(data, str):
        try:
            data = safejson.loads(data.lstrip("\ufeff"), max_depth=get_settings().exchange_max_json_depth)
        except safejson.JsonTooDeep as exc:
            raise PayloadShapeError(f"payload is not acceptable JSON: {exc}") from None
        except ValueError as exc:  # JSONDecodeError, or an integer of more digits than Python converts
            raise PayloadShapeError(f"payload is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadShapeError(f"payload must be a JSON object, got {type(data).__name__}")
    return data


# ---- pydantic errors → FieldError ---------------------------------------------------------------------

_MESSAGES = {
    "required": "is required",
    "type": "has the wrong type",
}


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _join(prefix: str, rel: str) -> str:
    if not rel:
        return prefix
    if not prefix or rel.startswith("["):
        return prefix + rel
    return f"{prefix}.{rel}"


def _label(path: str) -> str:
    """Name a path: ``drivingLicense (身份证号)`` for a name, ``locations[3]`` for an index."""
    last = path.rsplit(".", 1)[-1]
    if last.endswith("]"):
        return last
    zh = FIELD_NAMES_ZH.get(last)
    return f"{last} ({zh})" if zh else last


def _translate(exc: ValidationError) -> Iterator[FieldError]:
    for err in exc.errors(include_url=False):
        path = _path(err["loc"])
        kind = err["type"]
        if kind == FIELD_ERRORS:
            for rel, rule, message in err["ctx"]["items"]:
                full = _join(path, rel)
                yield FieldError(full, rule, f"{_label(full)} {message}")
            continue
        rule, message = _rule_and_message(kind, err)
        yield FieldError(path, rule, f"{_label(path)} {message}" if path else message)


def _rule_and_message(kind: str, err: dict[str, Any]) -> tuple[str, str]:
    if kind in RULES:
        return kind, err["msg"]
    if kind == "missing":
        return "required", "is required"
    if kind in ("too_short", "too_long"):
        ctx = err.get("ctx", {})
        limit = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        word = "at least" if kind == "too_short" else "at most"
        return "multiplicity", f"must hold {word} {limit} item(s), got {ctx.get('actual_length')}"
    if err.get("input", ...) is None:
        return "required", "is required"
    if kind == "list_type":
        return "type", "must be a list"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "type", "must be an object"
    return "type", err["msg"]


# ---- warnings: checksums and the partial bank table ----------------------------------------------------


def _id_warning(path: str, value: str | None) -> Iterator[FieldError]:
    if value is None or id_number_valid(value):
        return
    hint = ""
    head = value[:17]
    if len(head) == 17 and head.isascii() and head.isdigit():
        hint = f"; the check character for these 17 digits is {id_check_char(head)}"
    yield FieldError(
        path,
        "checksum",
        f"{_label(path)} is not a valid GB 11643-1999 ID number "
        f"(digits, birth date or check character){hint}",
    )


def _usci_warning(path: str, value: str) -> Iterator[FieldError]:
    if usci_valid(value):
        return
    hint = ""
    try:
        hint = f"; the check character for the first 17 characters is {usci_check_char(value[:17])}"
    except ValueError:
        pass
    yield FieldError(
        path,
        "checksum",
        f"{_label(path)} is not a valid GB 32100-2015 unified social credit identifier{hint}",
    )


def _party_id_warning(path: str, value: str | None) -> Iterator[FieldError]:
    """Warn when an 18-character party id is neither a valid USCI nor a valid ID number."""
    if value is None or len(value) != 18 or usci_valid(value) or id_number_valid(value):
        return
    yield FieldError(
        path,
        "checksum",
        f"{_label(path)} has 18 characters but is neither a valid USCI (GB 32100-2015) "
        "nor a valid ID number (GB 11643-1999)",
    )


def _warnings(kind: Kind, model: BaseModel) -> Iterator[FieldError]:
    if isinstance(model, Waybill):
        yield from _usci_warning("unifiedSocialCreditIdentifier", model.unified_social_credit_identifier)
        yield from _party_id_warning("consignorInfo.consignorId", model.consignor_info.consignor_id)
        yield from _party_id_warning("consigneeInfo.consigneeId", model.consignee_info.consignee_id)
        yield from _party_id_warning(
            "actualCarrierInfo.actualCarrierId", model.actual_carrier_info.actual_carrier_id
        )
        for i, vehicle in enumerate(model.vehicle_info):
            for j, driver in enumerate(vehicle.driver):
                yield from _id_warning(f"vehicleInfo[{i}].driver[{j}].drivingLicense", driver.driving_license)
    elif isinstance(model, FundFlow):
        yield from _party_id_warning("actualCarrierId", model.actual_carrier_id)
        for i, item in enumerate(model.financiallist):
            # The shipped bank table holds only the codes the research notes name; do not reject others.
            if item.bank_code is not None and not codes.is_code("bank_code", item.bank_code):
                path = f"financiallist[{i}].bankCode"
                yield FieldError(
                    path, "code", f"{_label(path)} {item.bank_code!r} is not in the bank_code table"
                )
    elif isinstance(model, (Driver, PositionBatch)):
        yield from _id_warning("drivingLicense", model.driving_license)
