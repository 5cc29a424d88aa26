"""Field-level validation errors of exchange payloads, in the shape of the spec's 3005 reply."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RULES", "FieldError", "PayloadShapeError", "SchemaError"]

#: The closed vocabulary of ``FieldError.rule``:
#:
#: - ``required``     a 1..1 field (or a field the spec requires here) is missing, null or empty;
#: - ``type``         wrong JSON type (object expected, list expected, number expected, ...);
#: - ``length``       an..N / anN length, or too many digits for n..N,d;
#: - ``format``       wrong shape: date-time ``YYYYMMDDhhmmss``, date ``YYYYMMDD``, ``serialNumber`` 4 digits,
#:   a division code that is neither 6 digits nor 12 ending in ``000000``;
#: - ``code``         not a member of the code table (research notes §3) or of the spec's closed list;
#: - ``range``        number outside its interval (amount > 0, speed 0..250 km/h, ...), or
#:   ``vehicleAmount`` smaller than the number of ``vehicleInfo`` items;
#: - ``decimals``     more decimals than the spec allows (money 3, kg 3, m³ 4, tonnes 2);
#: - ``multiplicity`` a 1..n list is empty, or a list is longer than allowed;
#: - ``conditional``  required only in a situation (vehicle ≤ 4.5 t, segmented waybill) and missing;
#: - ``checksum``     USCI (GB 32100) or ID number (GB 11643) check fails — reported as a warning only;
#: - ``division``     a well-formed division code that the GB/T 2260 gazetteer does not know;
#: - ``shape``        a list field sent as one object, accepted as a one-element list — a warning only.
RULES: frozenset[str] = frozenset(
    {
        "required",
        "type",
        "length",
        "format",
        "code",
        "range",
        "decimals",
        "multiplicity",
        "conditional",
        "checksum",
        "division",
        "shape",
    }
)


class SchemaError(Exception):
    """Base of the exceptions raised by ``etl.schemas``."""


class PayloadShapeError(SchemaError):
    """The decrypted content is not a JSON object (spec result code 3008)."""


@dataclass(frozen=True)
class FieldError:
    """One failed check on one field.

    Parameters
    ----------
    field : str
        Wire path with the spec's camelCase names and list indices,
        e.g. ``"vehicleInfo[0].driver[0].drivingLicense"``; ``""`` for the payload itself.
    rule : str
        One of :data:`RULES`.
    message : str
        English explanation naming the field (with its Chinese name when known) and the value's problem.
    """

    field: str
    rule: str
    message: str

    def __post_init__(self) -> None:
        """Refuse a rule outside :data:`RULES`."""
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {sorted(RULES)}, got {self.rule!r}")

    def to_dict(self) -> dict[str, str]:
        """Return ``{"field", "rule", "message"}``, one item of the 3005 reply's ``errors`` list.

        Examples
        --------
        >>> FieldError("serialNumber", "format", "serialNumber must be 4 digits").to_dict()
        {'field': 'serialNumber', 'rule': 'format', 'message': 'serialNumber must be 4 digits'}
        """
        return {"field": self.field, "rule": self.rule, "message": self.message}
