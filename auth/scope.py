"""What a user may see, answered in one place: a ``Scope`` built from the user and passed to every query service.

spec/API.md: a county user sees only operators registered in its county (a city its city, the province all of it),
an operator only its own data, an analyst aggregates only; personal data (ID numbers, phones, bank accounts) is
masked unless the role may see it. API routes and dashboard pages build the Scope once (``Scope.of(user)``) and
hand it to the services; no service decides visibility by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, select, true

from core.errors import ForbiddenError
from store.models import AppUser, Operator

__all__ = ["PERSONAL_DATA_ROLES", "REGULATOR_DIGITS", "Scope", "ScopeError"]

#: Regulators keep this many leading digits of their GB/T 2260 division code: province 2, city 4, county 6.
REGULATOR_DIGITS = {"province": 2, "city": 4, "county": 6}
#: Roles that read ID numbers, phone numbers and bank accounts in clear (every such read is audited); an operator
#: reads its own platform's records in clear (it reported them). City and county staff and analysts see them masked.
PERSONAL_DATA_ROLES = frozenset({"admin", "province", "operator"})
#: The division prefix of a regulator whose division code is missing or malformed: matches no division.
NOWHERE = "-"


class ScopeError(ForbiddenError):
    """The user's role may not read this kind of answer at all (e.g. an analyst asking for one waybill)."""


@dataclass(frozen=True)
class Scope:
    """The part of the province a user may see.

    Attributes
    ----------
    role : str
        One of ``store.models.ROLES``, or ``"system"`` for the system's own jobs.
    user_id, username : optional
        Who asks (for the audit log).
    division_prefix : str
        Leading digits of the divisions whose operators are visible; ``""`` means every division.
    operator_id : int, optional
        Set for an operator's user: only that platform's rows.
    personal_data : bool
        Whether ID numbers, phones and bank accounts are shown in clear.
    aggregates_only : bool
        Analysts: statistics only, never a single document.
    """

    role: str
    user_id: int | None = None
    username: str | None = None
    division_prefix: str = ""
    operator_id: int | None = None
    personal_data: bool = False
    aggregates_only: bool = False

    @classmethod
    def of(cls, user: AppUser) -> Scope:
        """The scope of a logged-in user; a regulator without a division code sees nothing."""
        base = dict(role=user.role, user_id=user.id, username=user.username,
                    personal_data=user.role in PERSONAL_DATA_ROLES)
        if user.role == "operator":
            # An operator user without a platform would otherwise see everything: it sees nothing instead.
            return cls(**base, operator_id=user.operator_id if user.operator_id is not None else -1)
        if user.role in REGULATOR_DIGITS:
            digits = REGULATOR_DIGITS[user.role]
            code = (user.division_code or "")[:digits]
            return cls(**base, division_prefix=code if len(code) == digits else NOWHERE)
        return cls(**base, aggregates_only=user.role == "analyst")

    @classmethod
    def system(cls) -> Scope:
        """The system's own jobs (workers, sweeps, the CLI): everything, personal data included."""
        return cls(role="system", personal_data=True)

    @property
    def sees_all(self) -> bool:
        """No restriction by division or operator (admin, analyst aggregates, system)."""
        return self.operator_id is None and not self.division_prefix

    def require_documents(self) -> None:
        """Refuse roles that may read statistics only.

        Raises
        ------
        ScopeError
            For an analyst.
        """
        if self.aggregates_only:
            raise ScopeError(f"role {self.role!r} reads aggregates only, not single documents")

    def require_statistics(self) -> None:
        """Refuse scopes bound to one platform (operators read their own documents, not province statistics).

        Raises
        ------
        ScopeError
            For an operator's user.
        """
        if self.operator_id is not None:
            raise ScopeError(f"role {self.role!r} reads its own platform's data, not province statistics")

    def allows(self, operator_id: int | None, operator_division_code: str | None) -> bool:
        """Whether a row reported by this operator (registered in that division) is visible."""
        if self.operator_id is not None:
            return operator_id == self.operator_id
        if not self.division_prefix:
            return True
        if operator_id is None:
            return self.role == "province"  # unattributed rows (unauthenticated sends) are the province's to see
        return (operator_division_code or "").startswith(self.division_prefix)

    def allows_operator(self, operator: Operator | None) -> bool:
        """Like :meth:`allows`, for a loaded ``Operator`` row (None = unattributed)."""
        if operator is None:
            return self.allows(None, None)
        return self.allows(operator.id, operator.division_code)

    def operator_filter(self, column) -> ColumnElement[bool]:
        """A WHERE clause restricting an ``operator_id`` column to what this scope sees."""
        if self.operator_id is not None:
            return column == self.operator_id
        if not self.division_prefix:
            return true()
        if self.division_prefix == NOWHERE:
            return false()
        visible = column.in_(select(Operator.id).where(Operator.division_code.like(f"{self.division_prefix}%")))
        return or_(visible, column.is_(None)) if self.role == "province" else visible

    def division_filter(self, column) -> ColumnElement[bool]:
        """A WHERE clause restricting a division-code column (aggregates by division) to this scope's divisions."""
        if self.operator_id is not None or self.division_prefix == NOWHERE:
            return false()
        if not self.division_prefix:
            return true()
        return column.like(f"{self.division_prefix}%")
